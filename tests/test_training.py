"""Process-boundary tests of sequence_fx.training: the sfx-train CLI, resume after SIGKILL mid-epoch,
DDP with 2 CPU processes (gloo), crash-safe checkpoint writes and weights_only loading."""
import json, logging, os, signal, socket, subprocess, sys, textwrap, time
from pathlib import Path

import numpy as np
import pytest
import torch

from sequence_fx.training import (load_state, latest_checkpoint, load_signal_model, FeatureMismatchError, predict_proba, CheckpointError,
                                  save_checkpoint_dir, _prune_checkpoints)
from sequence_fx.prepare import prepare
from sequence_fx.dataset import DataConfig
from sequence_fx.features import FeatureConfig

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
# tiny and fast: the shared test machine has 2 cores
FAST = ["--pairs", "eurusd", "--t-in", "24", "--t-out", "5", "--cnn-channels", "8", "--lstm-hidden", "8", "--attn-heads", "2",
        "--batch-size", "64", "--no-progress", "--threads", "1"]


def env():
    e = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", GLOO_SOCKET_IFNAME="lo", SFX_LOG_LEVEL="WARNING")
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    e.pop("SFX_DEBUG", None)
    return e


def sfx_train(args, cwd, **kw):
    "Run `sfx-train` exactly as the console script does (sequence_fx.training:train_cli)."
    cmd = [PY, "-c", "import sys; from sequence_fx.training import train_cli; train_cli(sys.argv[1:])", *args]
    return subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True, timeout=600, **kw)


def weights(path):
    st = load_state(path)
    return st["model"]


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a: assert torch.equal(a[k], b[k]), k


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    "A prepared-dataset cache shared by the tests (prepared once by the first CLI run)."
    return tmp_path_factory.mktemp("data")


def test_help_and_bad_args(tmp_path, cli_here):
    sfx_train = lambda args, _: cli_here("sfx-train", *args, env={"SFX_LOG_LEVEL": "WARNING"})   # in this process
    r = sfx_train(["--help"], tmp_path)
    assert r.returncode == 0
    for flag in ("--pairs", "--epochs", "--learning-rate", "--batch-size", "--resume-from-checkpoint", "--device", "--run-dir"):
        assert flag in r.stdout
    r = sfx_train(["--epochs", "many"], tmp_path)
    assert r.returncode != 0 and r.stderr.strip().count("\n") == 0 and "sfx-train: error:" in r.stderr
    r = sfx_train(["--pairs", "eurxyz"], tmp_path)
    assert r.returncode != 0 and "unknown pair" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = sfx_train(["--device", "cuda:7", "--data-dir", str(tmp_path / "d")] if not torch.cuda.is_available() else ["--task-type", "nonsense"], tmp_path)
    assert r.returncode != 0 and r.stderr.strip().splitlines()[-1].startswith("sfx-train: error:")


def test_cli_trains_and_predicts(tmp_path, data_dir):
    r = sfx_train([*FAST, "--epochs", "2", "--run-dir", str(tmp_path / "runs"), "--data-dir", str(data_dir)], tmp_path)
    assert r.returncode == 0, r.stderr
    rd = tmp_path / "runs" / "eurusd"
    assert "best_model.pt" in r.stdout and str(rd / "best_model.pt") in r.stdout
    names = sorted(p.name for p in rd.iterdir())
    assert names == ["best_model.pt", "checkpoint_epoch_1", "checkpoint_epoch_2", "config.json", "metrics.jsonl", "training_curves.png"]
    lines = [json.loads(l) for l in (rd / "metrics.jsonl").read_text().splitlines()]
    assert [l["epoch"] for l in lines] == [1, 2] and all(np.isfinite(l["val_loss"]) for l in lines)
    # everything loads with weights_only=True (torch.load directly, not only through our helper)
    for p in (rd / "best_model.pt", rd / "checkpoint_epoch_2" / "training_state.pt"):
        torch.load(p, weights_only=True)
    assert (rd / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # inference from raw bars == the training path on the same rows
    prepared = prepare("eurusd", DataConfig(t_in=24, t_out=5), data_dir=data_dir)
    m = load_signal_model(rd / "best_model.pt")
    # the checkpoint names the dataset it was trained on (sfx-prepare's content key) and its DC/sentiment blocks (none)
    assert m.meta["cache_key"] == prepared.meta["cache_key"] and len(m.meta["cache_key"]) == 64 and m.meta["spec"] == {}
    proba = m.predict(prepared.frame[["open", "high", "low", "close", "volume"]])
    idx, p = predict_proba(rd / "best_model.pt", prepared, "val")
    np.testing.assert_allclose(proba.iloc[idx].to_numpy(), p, atol=1e-5)
    # a dataset split differently has another scaler: predict_proba still scales with the checkpoint's, so it equals
    # predict() on the raw bars row for row, and differs from what the dataset's own scaler would give
    resplit = prepare("eurusd", DataConfig(t_in=24, t_out=5, splits=(0.5, 0.25, 0.25)), data_dir=tmp_path / "resplit")
    assert not np.allclose(resplit.scaler.mean, prepared.scaler.mean)
    idx2, p2 = predict_proba(m, resplit, "test")
    np.testing.assert_allclose(proba.iloc[idx2].to_numpy(), p2, rtol=0, atol=1e-6)
    own = m.predict_windows(resplit.X, idx2)
    assert np.abs(own - p2).max() > 1e-3
    # resuming on differently prepared data is refused, in one line
    r = sfx_train([*FAST, "--epochs", "3", "--t-out", "6", "--run-dir", str(tmp_path / "runs"), "--data-dir", str(tmp_path / "d6"),
                   "--resume-from-checkpoint", str(rd / "checkpoint_epoch_2")], tmp_path)
    assert r.returncode != 0 and "different DataConfig" in r.stderr and "'t_out': (5, 6)" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    # a dataset with another feature set is refused with a clear message
    other = prepare("eurusd", DataConfig(t_in=24, t_out=5), FeatureConfig(rsi_window=0), data_dir=tmp_path / "other")
    with pytest.raises(FeatureMismatchError, match=r"missing \['rsi_14'\]"):
        predict_proba(rd / "best_model.pt", other, "val")


def test_resume_after_kill_mid_epoch(tmp_path, data_dir):
    args = [*FAST, "--epochs", "4", "--data-dir", str(data_dir), "--patience", "0"]
    ref = sfx_train([*args, "--run-dir", str(tmp_path / "ref")], tmp_path)
    assert ref.returncode == 0, ref.stderr
    # the same run, killed with SIGKILL in the middle of epoch 3
    cmd = [PY, "-c", "import sys; from sequence_fx.training import train_cli; train_cli(sys.argv[1:])", *args, "--run-dir", str(tmp_path / "cut")]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rd = tmp_path / "cut" / "eurusd"
    t0 = time.time()
    while not (rd / "checkpoint_epoch_2" / "training_state.pt").exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() - t0 < 300
        time.sleep(0.02)
    ep2 = json.loads((rd / "metrics.jsonl").read_text().splitlines()[-1])
    time.sleep(0.3 * ep2["train_time_s"])                 # ~a third into epoch 3
    assert proc.poll() is None, "run finished before it could be killed"
    proc.send_signal(signal.SIGKILL); proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (rd / "checkpoint_epoch_3").exists(), "killed too late: epoch 3 had already been saved"
    assert latest_checkpoint(rd).name == "checkpoint_epoch_2"
    assert len((rd / "metrics.jsonl").read_text().splitlines()) == 2
    res = sfx_train([*args, "--run-dir", str(tmp_path / "cut"), "--resume-from-checkpoint", str(rd / "checkpoint_epoch_2")], tmp_path)
    assert res.returncode == 0, res.stderr
    ref_rd = tmp_path / "ref" / "eurusd"
    assert_same_weights(weights(ref_rd / "checkpoint_epoch_4"), weights(rd / "checkpoint_epoch_4"))
    assert_same_weights(weights(ref_rd / "best_model.pt"), weights(rd / "best_model.pt"))
    strip = lambda p: [{k: v for k, v in json.loads(l).items() if not k.endswith(("time_s", "wait_s"))} for l in p.read_text().splitlines()]
    assert strip(ref_rd / "metrics.jsonl") == strip(rd / "metrics.jsonl")
    # optimiser and scheduler state match too
    a, b = load_state(ref_rd / "checkpoint_epoch_4"), load_state(rd / "checkpoint_epoch_4")
    assert a["scheduler"] == b["scheduler"]
    for s1, s2 in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        for k in s1: assert torch.equal(s1[k], s2[k])


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def test_ddp_two_cpu_processes(tmp_path, data_dir):
    "torchrun, 2 processes, gloo: the loss curve matches a 1-process run with the same global batch; rank 0 writes once."
    common = [*FAST, "--epochs", "3", "--data-dir", str(data_dir), "--dropout", "0", "--no-class-weighting", "--patience", "0",
              "--device", "cpu"]
    single = sfx_train([*common, "--batch-size", "64", "--run-dir", str(tmp_path / "single")], tmp_path)
    assert single.returncode == 0, single.stderr
    script = tmp_path / "sfx_train_entry.py"
    script.write_text("import sys\nfrom sequence_fx.training import train_cli\ntrain_cli(sys.argv[1:])\n")
    cmd = [PY, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(_free_port()), str(script), *common, "--batch-size", "32", "--run-dir", str(tmp_path / "ddp")]
    r = subprocess.run(cmd, cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert r.stdout.count("best epoch") == 1                    # only rank 0 reports
    rd = tmp_path / "ddp" / "eurusd"
    assert sorted(p.name for p in rd.iterdir()) == ["best_model.pt", "checkpoint_epoch_1", "checkpoint_epoch_2", "checkpoint_epoch_3",
                                                     "config.json", "metrics.jsonl", "training_curves.png"]
    assert json.loads((rd / "config.json").read_text())["world_size"] == 2
    ddp = [json.loads(l) for l in (rd / "metrics.jsonl").read_text().splitlines()]
    one = [json.loads(l) for l in (tmp_path / "single" / "eurusd" / "metrics.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in ddp] == [1, 2, 3]                # one line per epoch: logged once
    assert ddp[0]["val_n"] == one[0]["val_n"]                    # validation shards cover every window exactly once
    # same global batch (2 x 32 vs 64), same permutation: the curves agree closely
    for key in ("train_loss", "val_loss"):
        np.testing.assert_allclose([h[key] for h in ddp], [h[key] for h in one], rtol=1e-3)
    torch.load(rd / "best_model.pt", weights_only=True)


CRASH = textwrap.dedent('''
    import os, sys, torch
    from pathlib import Path
    from sequence_fx.training import save_state, save_checkpoint_dir
    target, how = Path(sys.argv[1]), sys.argv[2]
    die = lambda *a, **k: os._exit(9)
    if how == "before-rename": os.replace = die         # all bytes written to the temp file, rename never happens
    if how == "mid-write":                              # the process dies while the bytes are being written
        orig_save = torch.save
        def save(obj, f, *a, **k):
            class Dying:
                def __init__(self, f): self.f, self.left = f, 4096
                def write(self, b):
                    self.f.write(bytes(b)[:self.left]); self.f.flush(); os._exit(9)
                def flush(self): pass
            return orig_save(obj, Dying(f), *a, **k)
        torch.save = save
    new = {"format": "sequence_fx.signal_model/1", "model": {"w": torch.full((200_000,), 2.0)}, "epoch": 2}
    if target.suffix == ".pt": save_state(new, target)
    else: save_checkpoint_dir(new, target)
''')


@pytest.mark.parametrize("how", ["before-rename", "mid-write"])
@pytest.mark.parametrize("kind", ["file", "dir"])
def test_crash_during_save_keeps_previous_checkpoint(tmp_path, how, kind):
    from sequence_fx.training import save_state, save_checkpoint_dir
    old = {"format": "sequence_fx.signal_model/1", "model": {"w": torch.ones(10)}, "epoch": 1}
    target = tmp_path / ("best_model.pt" if kind == "file" else "checkpoint_epoch_1")
    (save_state if kind == "file" else save_checkpoint_dir)(old, target)
    r = subprocess.run([PY, "-c", CRASH, str(target), how], env=env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 9, r.stderr                           # the writer really died mid-save
    st = load_state(target)                                       # the previous checkpoint is intact and loadable
    assert st["epoch"] == 1 and torch.equal(st["model"]["w"], torch.ones(10))
    if kind == "dir": assert latest_checkpoint(tmp_path).name == "checkpoint_epoch_1"


def test_weights_only_refuses_pickled_objects(tmp_path):
    class Payload:
        def __reduce__(self): return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))
    torch.save({"format": "sequence_fx.signal_model/1", "x": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match=r"evil.pt cannot be loaded safely \(weights_only=True\).*GLOBAL (posix|nt|os)\.system"):
        load_state(tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="weights_only"):
        load_signal_model(tmp_path / "evil.pt")
    assert not (tmp_path / "pwned").exists()


def test_load_state_reports_damaged_files(tmp_path):
    "Only a refused unpickling is 'unsafe'; a missing, truncated or corrupt file names its path and the real cause."
    save_checkpoint_dir({"model": {"w": torch.ones(1000)}, "epoch": 1}, tmp_path / "checkpoint_epoch_1")
    good = (tmp_path / "checkpoint_epoch_1" / "training_state.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(good[: len(good) // 2])
    (tmp_path / "junk.pt").write_bytes(b"this is not a checkpoint")
    (tmp_path / "empty.pt").write_bytes(b"")
    for name, cause in [("cut.pt", "failed finding central directory"), ("junk.pt", "Error: "), ("empty.pt", "EOFError")]:
        with pytest.raises(CheckpointError) as e:
            load_state(tmp_path / name)
        msg = str(e.value)
        assert str(tmp_path / name) in msg and "truncated or corrupt" in msg and cause in msg, msg
        assert "weights_only" not in msg, msg
    with pytest.raises(FileNotFoundError, match="gone.pt does not exist"):
        load_state(tmp_path / "gone.pt")
    with pytest.raises(FileNotFoundError, match="gone.pt does not exist"):
        load_signal_model(tmp_path / "gone.pt")
    assert load_state(tmp_path / "checkpoint_epoch_1")["epoch"] == 1


def test_prune_failure_is_logged(tmp_path, caplog):
    "An old checkpoint that cannot be deleted is reported with its path, not silently kept."
    for n in (2, 3):
        save_checkpoint_dir({"epoch": n}, tmp_path / f"checkpoint_epoch_{n}")
    (tmp_path / "checkpoint_epoch_1").write_text("a file where a directory should be")     # rmtree fails on it
    with caplog.at_level(logging.WARNING, logger="sequence_fx.training"):
        _prune_checkpoints(tmp_path, keep=1)
    assert not (tmp_path / "checkpoint_epoch_2").exists() and (tmp_path / "checkpoint_epoch_3").exists()
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(tmp_path / "checkpoint_epoch_1") in w and "could not delete" in w for w in warned), warned
