"""TradingEnv step rate: both modes, window and embedding observations, on 10k-, 100k- and 1M-bar datasets,
against a trivial gymnasium environment's step rate measured in the same run (the floor every environment pays).

Usage: python bench/bench_env.py [--steps 40000] [--sizes 10000,100000,1000000] [--quick]
One core: run with OMP_NUM_THREADS=1. Prints the inputs, steps/s per configuration, the ratio to the floor, the
one-off costs (preparing the dataset, building the environment, precomputing embeddings) and the scaling across
dataset sizes (a step must cost the same on 10k and 1M bars).
"""
import argparse, tempfile, time
from pathlib import Path
import numpy as np
import gymnasium as gym
from gymnasium import spaces

from sequence_fx.features import random_bars
from sequence_fx.dataset import DataConfig, prepare_dataset
from sequence_fx.backtest import ExecutionConfig
from sequence_fx.env import ENV_ID, make_env, encoder_embeddings, RiskConfig


class Trivial(gym.Env):
    "The floor: a Dict observation like ours (two small fresh arrays), a constant reward, no state."
    def __init__(self, shape):
        self.observation_space = spaces.Dict({"features": spaces.Box(-1, 1, shape, np.float32), "account": spaces.Box(-1, 1, (4,), np.float32)})
        self.action_space = spaces.Discrete(3)
        self._f = np.zeros(shape, np.float32)
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return {"features": self._f, "account": np.zeros(4, np.float32)}, {}
    def step(self, action):
        return {"features": self._f, "account": np.zeros(4, np.float32)}, 0.0, False, False, {"bar": 0}


def interleaved_rates(envs:dict, actions, rounds:int=5) -> dict:
    """Steps/s per environment: `rounds` rounds, each running every environment over the action list in turn (resetting at
    episode ends); the best round counts. The box is shared with other jobs, so the configurations (and the floor) are
    interleaved to see the same load, and the fastest round is the least disturbed."""
    best = {k: 0.0 for k in envs}
    for e in envs.values(): e.reset(seed=0)
    for _ in range(rounds):
        for k, env in envs.items():
            step, reset = env.step, env.reset
            t0 = time.perf_counter()
            for a in actions:
                _, _, term, trunc, _ = step(a)
                if term or trunc: reset()
            best[k] = max(best[k], len(actions) / (time.perf_counter() - t0))
    return best


def tiny_checkpoint(ds, run_dir):
    "A real best_model.pt (one optimiser step of a small SignalModel) to precompute embeddings from."
    from sequence_fx.encoder import ModelConfig
    from sequence_fx.training import TrainingConfig, train
    mc = ModelConfig(cnn_channels=(16,), cnn_kernels=(5,), lstm_hidden=16, attn_dim=32, attn_heads=4, embed_dim=32, head_hidden=16)
    tc = TrainingConfig(epochs=1, max_steps_per_epoch=1, progress=False, num_threads=1, device="cpu")
    return train(ds, mc, tc, run_dir).best_path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40_000, help="steps per round (5 interleaved rounds per configuration)")
    ap.add_argument("--sizes", default="10000,100000,1000000", help="dataset sizes in bars")
    ap.add_argument("--t-in", type=int, default=64, help="observation window (bars)")
    ap.add_argument("--quick", action="store_true", help="10k bars, 50k steps")
    a = ap.parse_args()
    sizes = [10_000] if a.quick else [int(s) for s in a.sizes.split(",")]
    n_steps = 20_000 if a.quick else a.steps
    actions = np.random.default_rng(0).integers(0, 3, n_steps).tolist()   # random policy: trades on ~2 bars in 3
    print(f"inputs: {n_steps} steps per round, best of 5 interleaved rounds, random discrete actions, t_in={a.t_in}, episode_length=None "
          f"(whole training split, reset at its end), ExecutionConfig(spread 1 pip, commission 1e-5, latency 1)")
    ec, rc = ExecutionConfig(spread_pips=1.0, commission=1e-5, latency_bars=1), RiskConfig(max_drawdown=None)
    results, floors = {}, {}
    tmp = Path(tempfile.mkdtemp(prefix="sfx_bench_env_"))
    for n in sizes:
        t0 = time.perf_counter()
        ds = prepare_dataset(random_bars(n, seed=0), DataConfig(t_in=a.t_in, t_out=10))
        t_prep = time.perf_counter() - t0
        print(f"\n{n:,} bars: prepare_dataset {t_prep:.1f} s; {ds.X.shape[1]} features; train split {len(ds.sample_index('train')):,} rows")
        if n <= 20_000:
            ck = tiny_checkpoint(ds, tmp / f"run{n}")
            t0 = time.perf_counter(); emb = encoder_embeddings(ck, ds, cache_dir=tmp / "emb"); t_emb = time.perf_counter() - t0
            t0 = time.perf_counter(); encoder_embeddings(ck, ds, cache_dir=tmp / "emb"); t_hit = time.perf_counter() - t0
            print(f"  embeddings (real encoder, E={emb.shape[1]}): precompute {t_emb:.2f} s = {n / t_emb:,.0f} rows/s; cache hit {t_hit * 1e3:.0f} ms")
        else: # the step reads one row; its values do not matter, so a random matrix stands in for an encoder pass over 1M windows
            emb = np.random.default_rng(0).normal(size=(n, 32)).astype(np.float32)
            print("  embeddings: random [n, 32] matrix (step cost does not depend on the values; precompute rate is measured at 10k)")
        envs, builds = {"trivial gymnasium env (floor)": Trivial((a.t_in, ds.X.shape[1]))}, {}
        for mode in ("backtesting", "simulated"):
            for obs in ("window", "embedding"):
                for copy in ((False, True) if obs == "window" else (False,)):
                    key = f"{mode:11s} {obs:9s}{' copy' if copy else '     '}"
                    t0 = time.perf_counter()
                    envs[key] = make_env(ds, split="train", mode=mode, obs=obs, episode_length=None, exec_cfg=ec, risk_cfg=rc,
                                         embeddings=emb if obs == "embedding" else None, seed=0, copy_obs=copy)
                    builds[key] = time.perf_counter() - t0
        envs["gymnasium.make(ENV_ID): copies, checker wrappers"] = gym.make(ENV_ID, prepared=ds, split="train", episode_length=None,
                                                                            exec_cfg=ec, risk_cfg=rc, seed=0)
        rates = interleaved_rates(envs, actions)
        floor = floors[n] = rates.pop("trivial gymnasium env (floor)")
        for key, r in rates.items():
            results[(key, n)] = r
            build = f"  build {builds[key] * 1e3:5.0f} ms" if key in builds else ""
            print(f"  {key:22s} {r:10,.0f} steps/s  ({1e6 / r:5.1f} us/step, {floor / r:4.1f}x the floor's step time){build}")
        print(f"  {'trivial gymnasium env (floor)':22s} {floor:10,.0f} steps/s  ({1e6 / floor:5.1f} us/step)")
        del ds, emb
    if len(sizes) > 1:
        lo, hi = sizes[0], sizes[-1]
        print(f"\nscaling {lo:,} -> {hi:,} bars ({hi // lo}x data): steps/s ratio (1.0 = step cost independent of data length)")
        for key in sorted({k for k, _ in results}):
            print(f"  {key}  {results[(key, hi)] / results[(key, lo)]:.2f}  (floor {floors[hi] / floors[lo]:.2f})")


if __name__ == "__main__": main()
