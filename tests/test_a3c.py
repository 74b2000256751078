"""A3C across process boundaries: Hogwild workers update one shared model and optimiser, learn a planted pattern, stop cleanly
on SIGTERM / Ctrl-C / the parent's death (no orphans, a final checkpoint), and a resumed single-worker run continues identically."""
import json, os, signal, subprocess, sys, time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from sequence_fx.dataset import DataConfig, prepare_dataset
from sequence_fx.backtest import ExecutionConfig
from sequence_fx.training import load_state
from sequence_fx.agents import trend_bars, read_log, evaluate_policy
from sequence_fx.a3c import A3CConfig, train_a3c, load_a3c, a3c_policy

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def trend(tmp_path_factory):
    "A planted pattern (trends that reverse at random, 10 pips a bar, 2 pips of noise), saved: workers load it by path."
    ds = prepare_dataset(trend_bars(1500, seed=1), DataConfig(t_in=16, t_out=5))
    d = ds.save(tmp_path_factory.mktemp("trend") / "ds")
    return ds, d


def _alive(pid:int) -> bool:
    "Is the process running (a zombie counts as gone)?"
    try: os.kill(pid, 0)
    except ProcessLookupError: return False
    try: return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError): return False


def _wait_for(pred, timeout:float, what:str):
    t0 = time.time()
    while not pred():
        if time.time() - t0 > timeout: raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.2)


def test_hogwild_workers_share_one_model_and_optimiser(trend, tmp_path):
    ds, d = trend
    cfg = A3CConfig(num_workers=2, total_steps=6000, obs="window", episode_length=64, learning_rate=1e-3, seed=3)
    res = train_a3c(d, cfg, tmp_path / "run", progress=False)
    w = res.workers
    assert sorted(w) == [0, 1] and all(w[r]["steps"] > 0 and w[r]["updates"] > 0 for r in w)
    # the global step counter (incremented under its lock) is exactly the sum of the workers' own steps
    assert res.steps == sum(s["steps"] for s in w.values()) >= cfg.total_steps
    # every update of every worker stepped the one shared Adam (an unshared optimiser would count one worker's updates);
    # lock-free increments of its step count could in principle collide, hence the 2% tolerance
    n_up = sum(s["updates"] for s in w.values())
    assert 0.98 * n_up <= res.updates <= n_up, (res.updates, n_up)
    # both workers' episodes are in the run log, and the checkpoint holds the counts
    eps = [r for r in read_log(res.run_dir) if r["kind"] == "episode"]
    assert {r["worker"] for r in eps} == {0, 1}
    st = load_state(res.checkpoint)
    assert st["steps"] == res.steps and int(st["optimizer"]["state"][0]["step"]) == res.updates
    # ... and the shared model learned the planted pattern: its greedy policy makes most (> 60%) of the best causal policy's
    # (follow the last bar) net return on the validation split. Hogwild interleaves as the OS schedules the workers, so
    # the run is not reproducible bit for bit. With GAE lambda 0.9 (the default) two workers reached 0.71-0.89 of the best
    # at this budget in 22 of 22 runs (seeds 0-15, and this seed six times: 0.76-0.89); with lambda 1 (the A3C paper's)
    # 0.00-0.58 at 4,000 steps (05_a3c, Advantages). The bar sits below that spread, not at its edge: the seeded,
    # reproducible one-worker run in 05_a3c keeps the > 70% bar.
    close = ds.frame["close"].to_numpy()
    follow = evaluate_policy(ds, lambda o, i: np.eye(3)[2 if close[i["bar"]] > close[i["bar"] - 1] else 0], "val", "follow", n_boot=0)
    model, _, _ = load_a3c(res.checkpoint)
    agent = evaluate_policy(ds, a3c_policy(model), "val", "A3C", n_boot=0)
    best, got = follow.backtest.stats["total_return"], agent.backtest.stats["total_return"]
    assert best > 0.1 and got > 0.6 * best, (got, best)



def test_a_worker_that_dies_without_a_word_fails_the_run(trend, tmp_path):
    """A script with no __main__ guard: each spawned worker re-runs it and dies at bootstrap, before its loop can report an error.
    The run must fail and say why -- not return an untrained model as if it had finished."""
    ds, d = trend
    script = tmp_path / "unguarded.py"
    script.write_text("from sequence_fx.a3c import A3CConfig, train_a3c\n"
                      f"train_a3c({str(d)!r}, A3CConfig(num_workers=1, total_steps=500, episode_length=64), {str(tmp_path / 'run')!r}, progress=False)\n")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert r.returncode != 0, r.stderr[-2000:]
    assert "a3c-worker-0 (exit code 1) exited without reporting, at step 0 of 500" in r.stderr and "__main__" in r.stderr, r.stderr[-2000:]

def test_resume_continues_identically_with_one_worker(trend, tmp_path):
    ds, d = trend
    cfg = A3CConfig(num_workers=1, total_steps=610, obs="window", episode_length=50, learning_rate=1e-3, seed=7)
    straight = train_a3c(d, replace(cfg, total_steps=1220), tmp_path / "straight", progress=False)
    half = train_a3c(d, cfg, tmp_path / "resumed", progress=False)
    assert half.workers[0]["actions"], "the stop should fall inside an episode (the test covers rebuilding it)"
    resumed = train_a3c(d, replace(cfg, total_steps=1220), tmp_path / "resumed", resume=tmp_path / "resumed", progress=False)
    assert resumed.steps == straight.steps > half.steps and resumed.updates == straight.updates
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    ep = lambda run: [(r["step"], r["return"]) for r in read_log(run) if r["kind"] == "episode"]
    assert ep(tmp_path / "straight") == ep(tmp_path / "resumed")       # the log continues: same episodes, same returns


def _start_cli(d, rd, *extra, workers:int=2):
    return subprocess.Popen([str(BIN / "sfx-a3c"), "--historical-data", str(d), "--num-workers", str(workers), "--total-steps", "100000000",
                             "--run-dir", str(rd), "--episode-length", "64", "--t-in", "16", "--eval-split", "none", "--no-progress", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _running_workers(rd:Path, workers:int=2, timeout:float=180) -> list:
    "PIDs of the run's workers, once each has logged an update."
    run = rd / "eurusd"
    def started():
        if not (run / "workers.json").is_file() or not (run / "log.jsonl").is_file(): return False
        return {r["worker"] for r in read_log(run) if r["kind"] == "update"} == set(range(workers))
    _wait_for(started, timeout, "every worker to log an update")
    return json.loads((run / "workers.json").read_text())["workers"]


@pytest.mark.parametrize("how", ["SIGTERM to the parent", "Ctrl-C to the process group"])
def test_signal_stops_every_worker_with_a_final_checkpoint(trend, tmp_path, how):
    ds, d = trend
    rd = tmp_path / "runs"
    proc = _start_cli(d, rd)
    try:
        pids = _running_workers(rd)
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        sig = signal.SIGTERM if how.startswith("SIGTERM") else signal.SIGINT
        if sig == signal.SIGTERM: proc.send_signal(sig)
        else: os.killpg(proc.pid, sig)                                  # a terminal's Ctrl-C reaches every process of the group
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None: os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 128 + sig, (proc.returncode, err[-2000:])
    assert "stopped by" in out and "--resume" in out
    _wait_for(lambda: not any(_alive(p) for p in pids), 10, "the workers to be gone")
    st = load_state(rd / "eurusd" / "checkpoint.pt")                   # weights_only: the final checkpoint is safe to load
    assert st["steps"] > 0 and sorted(st["workers"]) == ["0", "1"]      # every worker reported where its episode stood
    assert st["steps"] == sum(w["steps"] for w in st["workers"].values())
    if sig != signal.SIGTERM: return
    # --resume continues the step count (and the episodes the workers were in)
    res = subprocess.run([str(BIN / "sfx-a3c"), "--historical-data", str(d), "--num-workers", "1", "--total-steps", str(st["steps"] + 300),
                          "--run-dir", str(rd), "--episode-length", "64", "--t-in", "16", "--eval-split", "none", "--no-progress", "--resume"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert load_state(rd / "eurusd" / "checkpoint.pt")["steps"] >= st["steps"] + 300


def test_workers_exit_when_the_parent_is_killed(trend, tmp_path):
    "SIGKILL leaves no handler to run: the workers notice their parent is gone and exit on their own (no orphans)."
    ds, d = trend
    rd = tmp_path / "runs"
    proc = _start_cli(d, rd, workers=1)
    try:
        pids = _running_workers(rd, workers=1)
        proc.kill(); proc.wait(30)
        _wait_for(lambda: not any(_alive(p) for p in pids), 60, "the orphaned workers to exit")
    finally:
        if proc.poll() is None: proc.kill()
        for p in pids if "pids" in dir() else []:
            if _alive(p): os.kill(p, signal.SIGKILL)
