"""Trading agents' throughput: A3C environment steps/s and updates/s with 1 and 2 Hogwild workers (scaling), SAC updates/s
(discrete and continuous, embedding and window observations; CUDA rows when a GPU is present), beside floors and a peer measured
in the same run: the bare environment's step rate, and stable-baselines3's SAC on the same environment and network size.

Usage: OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE python bench/bench_agents.py [--quick] [--a3c-steps 20000] [--sac-steps 3000]
A3C rates are steady-state figures read from the run log (records are timestamped), from the first record after a fifth of the
run to the last, so process start-up (a fresh interpreter per worker) is reported separately. The box may be shared: compare the
ratios printed beside each figure, not the figures across runs. The 10x row repeats the 1-worker A3C and SAC measurements on a
dataset 10x larger: per-step and per-update costs must not grow with the data (observations are row lookups, the replay buffer
stores bars).
"""
import argparse, os, tempfile, time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1"); os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import numpy as np
import torch

from sequence_fx.features import random_bars
from sequence_fx.dataset import DataConfig, prepare_dataset
from sequence_fx.backtest import ExecutionConfig
from sequence_fx.env import make_env
from sequence_fx.agents import read_log
from sequence_fx.a3c import A3CConfig, train_a3c
from sequence_fx.sac import SACConfig, train_sac


def env_floor(ds, obs, emb, n):
    "Steps/s of the bare environment under random actions (no network): the floor every agent's step pays."
    env = make_env(ds, split="train", obs=obs, embeddings=emb, episode_length=256, seed=0)
    acts = np.random.default_rng(0).integers(0, 3, n).tolist()
    env.reset()
    t0 = time.perf_counter()
    for a in acts:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc: env.reset()
    return n / (time.perf_counter() - t0)


def steady_rates(run_dir, skip=0.2):
    "(env steps/s, updates/s) between the first record after `skip` of the run and the last, from the timestamped log."
    recs = [r for r in read_log(run_dir) if r["kind"] in ("update", "episode")]
    ups = [r for r in recs if r["kind"] == "update"]
    t_end, s_end = recs[-1]["time"], recs[-1]["step"]
    first = next(r for r in recs if r["step"] >= skip * s_end)
    dt = t_end - first["time"]
    steps_rate = (s_end - first["step"]) / dt
    by_worker = {}
    for r in ups:
        if r["time"] >= first["time"]: by_worker.setdefault(r["worker"], []).append(r["updates"])
    n_up = sum(v[-1] - v[0] for v in by_worker.values() if len(v) > 1)
    return steps_rate, n_up / dt


def a3c(ds_dir, obs, emb, workers, steps, tmp, tag):
    cfg = A3CConfig(num_workers=workers, total_steps=steps, obs=obs, episode_length=256, log_every=5, checkpoint_every=10**9)
    t0 = time.perf_counter()
    res = train_a3c(ds_dir, cfg, tmp / f"a3c_{tag}", embeddings=emb, progress=False)
    wall = time.perf_counter() - t0
    sr, ur = steady_rates(res.run_dir)
    return {"steps/s": sr, "updates/s": ur, "wall s": wall, "end-to-end steps/s": res.steps / wall, "start-up s": wall - res.steps / sr}


def sac(ds, action, obs, emb, steps, device, tmp, tag):
    cfg = SACConfig(action=action, obs=obs, total_steps=steps, learning_starts=256, episode_length=256, device=device, log_every=10**9,
                    checkpoint_every=10**9, policy_frequency=1 if action == "discrete" else 2)
    t0 = time.perf_counter()
    res = train_sac(ds, cfg, tmp / f"sac_{tag}", embeddings=emb, progress=False)
    return {"updates/s": res.updates_per_s, "steps/s (with updates)": res.steps_per_s, "wall s": time.perf_counter() - t0}


def sb3_sac(ds, obs, emb, steps):
    "stable-baselines3 SAC on the same continuous environment, same batch (256) and network width (64, 64): its steps/s with one update per step."
    from stable_baselines3 import SAC
    env = make_env(ds, split="train", obs=obs, embeddings=emb, action="continuous", episode_length=256, seed=0, copy_obs=True)
    model = SAC("MultiInputPolicy", env, learning_starts=256, batch_size=256, buffer_size=max(steps, 1000), train_freq=1, gradient_steps=1,
                policy_kwargs={"net_arch": [64, 64]}, seed=0, device="cpu", verbose=0)
    t0 = time.perf_counter()
    model.learn(total_timesteps=steps)
    return {"steps/s (with updates)": steps / (time.perf_counter() - t0)}


def fmt(d): return ", ".join(f"{k} {v:,.1f}" for k, v in d.items())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=10_000, help="bars of the synthetic dataset (the 10x row uses 10x as many)")
    ap.add_argument("--t-in", type=int, default=64, help="window length (bars)")
    ap.add_argument("--a3c-steps", type=int, default=20_000, help="environment steps per A3C run")
    ap.add_argument("--sac-steps", type=int, default=2_000, help="environment steps per SAC run (one update per step after 256; window rows: half)")
    ap.add_argument("--quick", action="store_true", help="fewer steps, no 10x row")
    a = ap.parse_args()
    if a.quick: a.a3c_steps, a.sac_steps = 6_000, 1_024
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="sfx_bench_agents_"))
    print(f"inputs: random-walk bars {a.bars:,}, t_in={a.t_in}, episode_length=256, ExecutionConfig() (1 pip); A3C {a.a3c_steps:,} steps "
          f"(n_steps 20, hidden 64); SAC {a.sac_steps:,} steps (batch 256, hidden 64); torch threads 1; "
          f"cpu cores {os.cpu_count()}, cuda {'yes: ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no'}")
    ds = prepare_dataset(random_bars(a.bars, seed=0), DataConfig(t_in=a.t_in, t_out=10))
    ds_dir = ds.save(tmp / "ds")
    emb = np.random.default_rng(0).normal(size=(len(ds.frame), 64)).astype(np.float32)  # a 64-dim embedding (values do not matter for speed)
    np.save(tmp / "emb.npy", emb)
    print(f"dataset: {len(ds.frame):,} rows, {ds.X.shape[1]} features")

    print("\n-- floor: the bare environment (random actions, no network)")
    floors = {obs: env_floor(ds, obs, emb if obs == "embedding" else None, 20_000) for obs in ("embedding", "window")}
    for obs, r in floors.items(): print(f"env {obs:9s}: {r:,.0f} steps/s")

    print("\n-- A3C (Hogwild): steady-state rates; 1 vs 2 worker processes")
    rows = {}
    for obs in ("embedding", "window"):
        e = str(tmp / "emb.npy") if obs == "embedding" else None
        for w in (1, 2):
            rows[(obs, w)] = r = a3c(ds_dir, obs, e, w, a.a3c_steps, tmp, f"{obs}_{w}")
            print(f"A3C {obs:9s} {w} worker(s): {fmt(r)}; {r['steps/s'] / floors[obs]:.3f} x the bare env")
        print(f"A3C {obs:9s} scaling 2 workers / 1 worker: steps/s x{rows[(obs, 2)]['steps/s'] / rows[(obs, 1)]['steps/s']:.2f}, "
              f"updates/s x{rows[(obs, 2)]['updates/s'] / rows[(obs, 1)]['updates/s']:.2f} (cores: {os.cpu_count()})")

    print("\n-- SAC: updates/s (time inside updates), and steps/s with one update per step; peer: stable-baselines3 SAC")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    srows = {}
    for dev in devices:
        for obs in ("embedding", "window"):
            for action in ("discrete", "continuous"):
                n = a.sac_steps if obs == "embedding" else max(a.sac_steps // 2, 512)
                srows[(dev, obs, action)] = r = sac(ds, action, obs, emb if obs == "embedding" else None, n, dev, tmp, f"{dev}_{obs}_{action}")
                print(f"SAC {action:10s} {obs:9s} {dev}: {fmt(r)}")
    for obs in ("embedding", "window"):
        p = sb3_sac(ds, obs, emb if obs == "embedding" else None, a.sac_steps if obs == "embedding" else max(a.sac_steps // 2, 512))
        ours = srows[("cpu", obs, "continuous")]["steps/s (with updates)"]
        print(f"SB3 SAC    continuous {obs:9s} cpu: {fmt(p)}; ours / SB3 = {ours / p['steps/s (with updates)']:.2f}")

    if not a.quick:
        print(f"\n-- 10x: {a.bars:,} vs {10 * a.bars:,} bars, measured in alternating rounds (best of 3), so both see the same load;"
              f" per-step and per-update costs must not grow with the data")
        big = prepare_dataset(random_bars(10 * a.bars, seed=0), DataConfig(t_in=a.t_in, t_out=10))
        big_emb = np.random.default_rng(0).normal(size=(len(big.frame), 64)).astype(np.float32)
        sets = {a.bars: (ds, emb), 10 * a.bars: (big, big_emb)}
        best = {}
        for rnd in range(3):
            for n, (d, e) in sets.items():
                r = {"env window steps/s": env_floor(d, "window", None, 20_000),
                     "A3C window steps/s (1 in-process worker)": train_a3c(d, A3CConfig(num_workers=0, total_steps=a.a3c_steps // 4, episode_length=256,
                                                                     checkpoint_every=10**9), tmp / f"a3c10x_{n}_{rnd}", progress=False).steps_per_s,
                     "SAC continuous embedding updates/s": sac(d, "continuous", "embedding", e, a.sac_steps // 2, "cpu", tmp, f"10x_{n}_{rnd}")["updates/s"]}
                for k, v in r.items(): best[(n, k)] = max(best.get((n, k), 0.0), v)
        for k in ("env window steps/s", "A3C window steps/s (1 in-process worker)", "SAC continuous embedding updates/s"):
            lo, hi = best[(a.bars, k)], best[(10 * a.bars, k)]
            print(f"{k}: {lo:,.1f} on {a.bars:,} bars, {hi:,.1f} on {10 * a.bars:,} bars; ratio {hi / lo:.2f}")

if __name__ == "__main__":
    main()
