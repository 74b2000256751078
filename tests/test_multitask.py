"""Process-boundary tests of sequence_fx.multitask: the sfx-train-multitask CLI, resume after SIGKILL mid-epoch
(GradNorm's learned weights and reference losses included), exact stop/resume with DWA's per-epoch state, and
DDP with 2 CPU processes (gloo) for uncertainty weighting (and GradNorm with SFX_SLOW=1), sfx-evaluate on a multi-task checkpoint."""
import json, os, shutil, signal, socket, subprocess, sys, time
from pathlib import Path

import numpy as np
import pytest
import torch

from sequence_fx.training import load_state, latest_checkpoint, load_signal_model, TrainingConfig
from sequence_fx.multitask import (load_multitask_model, load_predictor, predict_heads, train_multitask, MultiTaskConfig, MULTITASK_FORMAT,
                                   planted_bars)
from sequence_fx.prepare import prepare
from sequence_fx.dataset import DataConfig, prepare_dataset
from sequence_fx.encoder import ModelConfig

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
# tiny and fast: the shared test machine has 2 cores
FAST = ["--pairs", "eurusd", "--t-in", "24", "--t-out", "5", "--cnn-channels", "8", "--lstm-hidden", "8", "--attn-heads", "2",
        "--batch-size", "64", "--no-progress", "--threads", "1"]
ENTRY = "import sys; from sequence_fx.multitask import train_multitask_cli; train_multitask_cli(sys.argv[1:])"


def env():
    e = dict(os.environ, OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE", PYTHONUNBUFFERED="1", GLOO_SOCKET_IFNAME="lo", SFX_LOG_LEVEL="WARNING")
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    e.pop("SFX_DEBUG", None)
    return e


def sfx_train_multitask(args, cwd):
    "Run `sfx-train-multitask` exactly as the console script does (sequence_fx.multitask:train_multitask_cli)."
    return subprocess.run([PY, "-c", ENTRY, *args], cwd=cwd, env=env(), capture_output=True, text=True, timeout=600)


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a: assert torch.equal(a[k], b[k]), k


def strip(p):
    return [{k: v for k, v in json.loads(l).items() if not k.endswith(("time_s", "wait_s"))} for l in Path(p).read_text().splitlines()]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    "A prepared-dataset cache shared by the tests (prepared once by the first CLI run)."
    return tmp_path_factory.mktemp("data")


def test_console_script_help(cli):
    r = cli("sfx-train-multitask", "--help")
    assert r.returncode == 0, r.stderr
    for flag in ("--pairs", "--epochs", "--batch-size", "--loss-weighting", "--tasks", "--task-weights", "--select-on",
                 "--resume-from-checkpoint", "--device", "--run-dir", "--data-dir"):
        assert flag in r.stdout, flag


BAD_ARGS = [(["--epochs", "many"], "invalid int value"),
            (["--loss-weighting", "pcgrad"], "argument --loss-weighting: invalid choice 'pcgrad' (choose from fixed, uncertainty, gradnorm, dwa)"),
            (["--tasks", "direction,sentiment"], "unknown task 'sentiment'"),
            (["--tasks", "volatility,regime"], "direction head is required"),
            (["--loss-weighting", "fixed", "--task-weights", "1,2"], "one non-negative weight per task"),
            (["--task-type", "regression"], "classification or binary"),
            (["--pairs", "eurxyz"], "unknown pair")]
# every case through train_multitask_cli in one interpreter (importing torch once, not seven times): exit code and stderr of each
BAD_ENTRY = """import contextlib, io, json, sys
from sequence_fx.multitask import train_multitask_cli
out = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try: train_multitask_cli(argv); code = 0
        except SystemExit as e: code = e.code
    out.append([code, err.getvalue()])
print(json.dumps(out))"""


def test_bad_args_fail_in_one_line(tmp_path):
    r = subprocess.run([PY, "-c", BAD_ENTRY, json.dumps([[*a, "--data-dir", str(tmp_path / "d")] for a, _ in BAD_ARGS])], cwd=tmp_path, env=env(),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    for (args, msg), (code, err) in zip(BAD_ARGS, json.loads(r.stdout.strip().splitlines()[-1]), strict=True):
        assert code not in (0, None), args
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("sfx-train-multitask: error:") and msg in lines[0], (args, err)
    # and one of them through a fresh process, exactly as the console script runs
    r = sfx_train_multitask(["--loss-weighting", "pcgrad", "--data-dir", str(tmp_path / "d")], tmp_path)
    lines = r.stderr.strip().splitlines()
    assert r.returncode != 0 and len(lines) == 1 and lines[0].startswith("sfx-train-multitask: error:") and "argument --loss-weighting: invalid choice 'pcgrad'" in lines[0], r.stderr


def test_cli_trains_and_predicts(tmp_path, data_dir):
    r = sfx_train_multitask([*FAST, "--epochs", "2", "--tasks", "direction,volatility,regime,vol_up", "--run-dir", str(tmp_path / "runs"),
                             "--data-dir", str(data_dir)], tmp_path)
    assert r.returncode == 0, r.stderr
    rd = tmp_path / "runs" / "eurusd"
    assert str(rd / "best_model.pt") in r.stdout and "regime bacc" in r.stdout
    assert sorted(p.name for p in rd.iterdir()) == ["best_model.pt", "checkpoint_epoch_1", "checkpoint_epoch_2", "config.json",
                                                    "metrics.jsonl", "training_curves.png"]
    lines = [json.loads(l) for l in (rd / "metrics.jsonl").read_text().splitlines()]
    assert [l["epoch"] for l in lines] == [1, 2]
    for l in lines:   # curves per head and per task weight, every epoch
        for t in ("direction", "volatility", "regime", "vol_up"):
            assert np.isfinite(l[f"val_{t}_loss"]) and np.isfinite(l[f"w_{t}"]), (t, l)
        assert np.isfinite(l["val_rel_loss"])
    for p in (rd / "best_model.pt", rd / "checkpoint_epoch_2" / "training_state.pt"):
        torch.load(p, weights_only=True)
    assert (rd / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    prepared = prepare("eurusd", DataConfig(t_in=24, t_out=5), data_dir=data_dir)
    m = load_multitask_model(rd / "best_model.pt")
    assert m.meta["cache_key"] == prepared.meta["cache_key"] and m.tasks == ("direction", "volatility", "regime", "vol_up")
    allp = m.predict_all(prepared.frame[["open", "high", "low", "close", "volume"]])
    idx, heads = predict_heads(m, prepared, "val")
    np.testing.assert_allclose(allp.iloc[idx][["p_down", "p_flat", "p_up"]].to_numpy(), heads["direction"], atol=1e-5)
    np.testing.assert_allclose(allp.iloc[idx]["p_vol_up"].to_numpy(), heads["vol_up"], atol=1e-5)
    assert type(load_predictor(rd)).__name__ == "MultiTaskPredictor"
    with pytest.raises(ValueError, match="load_multitask_model"):
        load_signal_model(rd / "best_model.pt")
    # resuming with another weighting method is refused, in one line, naming the difference
    r = sfx_train_multitask([*FAST, "--epochs", "3", "--tasks", "direction,volatility,regime,vol_up", "--loss-weighting", "dwa",
                             "--run-dir", str(tmp_path / "runs"), "--data-dir", str(data_dir), "--resume-from-checkpoint", str(rd)], tmp_path)
    assert r.returncode != 0 and "different multitask" in r.stderr and "'loss_weighting': ('uncertainty', 'dwa')" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_resume_after_kill_mid_epoch_gradnorm(tmp_path, data_dir):
    "SIGKILL in epoch 3, resume from checkpoint_epoch_2: weights, GradNorm weights and their optimiser state equal the uninterrupted run."
    args = [*FAST, "--epochs", "4", "--max-steps-per-epoch", "20", "--data-dir", str(data_dir), "--patience", "0", "--loss-weighting", "gradnorm"]
    ref = sfx_train_multitask([*args, "--run-dir", str(tmp_path / "ref")], tmp_path)
    assert ref.returncode == 0, ref.stderr
    proc = subprocess.Popen([PY, "-c", ENTRY, *args, "--run-dir", str(tmp_path / "cut")], cwd=tmp_path, env=env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
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
    res = sfx_train_multitask([*args, "--run-dir", str(tmp_path / "cut"), "--resume-from-checkpoint", str(rd / "checkpoint_epoch_2")], tmp_path)
    assert res.returncode == 0, res.stderr
    ref_rd = tmp_path / "ref" / "eurusd"
    a, b = load_state(ref_rd / "checkpoint_epoch_4"), load_state(rd / "checkpoint_epoch_4")
    assert a["model_format"] == MULTITASK_FORMAT
    assert_same(a["model"], b["model"])
    assert_same(a["objective"], b["objective"])               # GradNorm's weights and its reference losses L_i(0)
    assert set(a["objective"]) == {"w", "L0"} and torch.isfinite(a["objective"]["L0"]).all()
    assert a["scheduler"] == b["scheduler"]
    for s1, s2 in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        for k in s1: assert torch.equal(s1[k], s2[k])
    assert_same(load_state(ref_rd / "best_model.pt")["model"], load_state(rd / "best_model.pt")["model"])
    assert strip(ref_rd / "metrics.jsonl") == strip(rd / "metrics.jsonl")


def test_dwa_stop_and_resume_is_exact(tmp_path):
    "DWA's weights come from the last two epochs' losses: a run stopped after epoch 3 and resumed equals one that never stopped."
    torch.set_num_threads(1)
    ds = prepare_dataset(planted_bars(1500, seed=3), DataConfig(t_in=16, t_out=5))
    mc = ModelConfig(cnn_channels=(8,), cnn_kernels=(5,), lstm_hidden=8, attn_dim=16, attn_heads=2, embed_dim=16, head_hidden=16)
    mt = MultiTaskConfig(loss_weighting="dwa")
    tc = TrainingConfig(epochs=5, batch_size=64, max_steps_per_epoch=8, progress=False, patience=0)
    full = train_multitask(ds, mc, mt, tc, tmp_path / "full")
    (tmp_path / "part").mkdir()
    shutil.copytree(tmp_path / "full" / "checkpoint_epoch_3", tmp_path / "part" / "checkpoint_epoch_3")
    part = train_multitask(ds, mc, mt, tc, tmp_path / "part", resume_from=tmp_path / "part")
    assert_same(full.model.state_dict(), part.model.state_dict())
    ws = [[h[f"w_{t}"] for t in mt.tasks] for h in full.history]
    assert ws[0] == ws[1] == [1.0, 1.0, 1.0] and ws[3] != [1.0, 1.0, 1.0]      # equal weights for two epochs, then DWA's
    assert [h["w_regime"] for h in part.history] == [h["w_regime"] for h in full.history]
    assert strip(tmp_path / "full" / "metrics.jsonl") == strip(tmp_path / "part" / "metrics.jsonl")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


SLOW = pytest.mark.skipif(not os.environ.get("SFX_SLOW"), reason="slow: runs with SFX_SLOW=1 (the suite's time budget)")


@pytest.mark.parametrize("method,rtol,w_atol", [("uncertainty", 1e-3, 1e-3), pytest.param("gradnorm", 3e-2, 0.1, marks=SLOW)])
def test_ddp_two_cpu_processes(tmp_path, data_dir, method, rtol, w_atol):
    """torchrun, 2 processes, gloo: one log line per epoch, rank 0 writes once, and the curves match a 1-process run with the same
    global batch (uncertainty weighting: closely, its gradients average exactly; GradNorm: roughly — each rank measures gradient norms
    on its half batch and its weight gradient is a sign, so the averaged step differs from the one-process step)."""
    common = [*FAST, "--epochs", "3", "--data-dir", str(data_dir), "--dropout", "0", "--no-class-weighting", "--patience", "0",
              "--device", "cpu", "--loss-weighting", method]
    single = sfx_train_multitask([*common, "--batch-size", "64", "--run-dir", str(tmp_path / "single")], tmp_path)
    assert single.returncode == 0, single.stderr
    script = tmp_path / "entry.py"
    script.write_text(ENTRY.replace("; ", "\n") + "\n")
    cmd = [PY, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(_free_port()), str(script), *common, "--batch-size", "32", "--run-dir", str(tmp_path / "ddp")]
    r = subprocess.run(cmd, cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert r.stdout.count("best epoch") == 1                    # only rank 0 reports
    rd = tmp_path / "ddp" / "eurusd"
    assert json.loads((rd / "config.json").read_text())["world_size"] == 2
    ddp = [json.loads(l) for l in (rd / "metrics.jsonl").read_text().splitlines()]
    one = [json.loads(l) for l in (tmp_path / "single" / "eurusd" / "metrics.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in ddp] == [1, 2, 3]
    assert ddp[0]["val_n"] == one[0]["val_n"]
    for key in ("train_loss", "val_rel_loss", "val_direction_loss", "val_volatility_loss"):
        np.testing.assert_allclose([h[key] for h in ddp], [h[key] for h in one], rtol=rtol, err_msg=key)
    for key in ("w_direction", "w_volatility", "w_regime"):
        np.testing.assert_allclose([h[key] for h in ddp], [h[key] for h in one], rtol=0, atol=w_atol, err_msg=key)
    torch.load(rd / "best_model.pt", weights_only=True)


def test_sfx_evaluate_multitask_checkpoint(tmp_path, data_dir):
    """sfx-evaluate on a multi-task checkpoint: the direction head through the usual harness, the volatility and regime heads against
    their baselines, and with --walk-forward the paired multi- minus single-task direction difference on the same folds."""
    r = sfx_train_multitask([*FAST, "--epochs", "1", "--max-steps-per-epoch", "10", "--run-dir", str(tmp_path / "runs"),
                             "--data-dir", str(data_dir)], tmp_path)
    assert r.returncode == 0, r.stderr
    ck = tmp_path / "runs" / "eurusd" / "best_model.pt"
    out = tmp_path / "reports"
    cmd = [PY, "-c", "import sys; from sequence_fx.evaluation import evaluate_cli; evaluate_cli(sys.argv[1:])", "--checkpoint-path", str(ck),
           "--data-dir", str(data_dir), "--report-dir", str(out), "--n-boot", "100", "--walk-forward", "2", "--wf-epochs", "1",
           "--wf-max-steps", "4", "--no-truncation-audit", "--threads", "1"]
    r = subprocess.run(cmd, cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "volatility: qlike" in r.stdout and "regime: balanced_accuracy" in r.stdout, r.stdout
    assert "multi-task minus single-task direction balanced accuracy over 2 walk-forward folds" in r.stdout, r.stdout
    m = json.loads((out / "eurusd" / "metrics.json").read_text())
    assert m["meta"]["dataset"]["origin"] == "cache"                                   # the dataset the model was trained on
    v, g = m["heads"]["volatility"], m["heads"]["regime"]
    assert set(v["metrics"]["qlike"]) >= {"model", "trailing", "ewma", "har"} and v["paired"]["qlike"]["baseline"] in ("trailing", "ewma", "har")
    assert set(g["metrics"]) == {"model", "majority", "persistence"}
    x = m["multitask_vs_single"]["paired"]["balanced_accuracy"]
    assert x["baseline"] == "single-task" and x["lo"] <= x["value"] <= x["hi"] and x["verdict"] in ("better", "worse", "no difference")
    assert len(m["multitask_vs_single"]["folds"]) == 2
    html = (out / "eurusd" / "report.html").read_text()
    assert "Multi-task heads against their baselines" in html and "Does multi-task training improve direction?" in html
