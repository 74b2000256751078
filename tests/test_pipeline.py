"""sfx-pipeline as a user runs it: --help, one-line errors, a --config file under the command line, a locked run
directory, and the resume contract: kill -9 in the middle of training, run again, and nothing that had finished is
redone (the training continues from its last epoch checkpoint); a changed option re-runs its stage and what follows."""
import fcntl, json, os, signal, subprocess, sys, time
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "SFX_LOG_LEVEL": "INFO"}
TINY = ["--pairs", "eurusd", "--t-in", "32", "--cnn-channels", "8", "--lstm-hidden", "8", "--n-boot", "200", "--no-progress", "--threads", "1"]

def sfx_pipeline(*args, timeout=900):
    return subprocess.run([str(BIN / "sfx-pipeline"), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=ENV)

def status(run) -> dict: return json.loads((Path(run) / "status.json").read_text())

def events(run) -> list: return [json.loads(l) for l in (Path(run) / "events.jsonl").read_text().splitlines()]

def one_line_error(capsys, argv, code, text):
    "Run sfx-pipeline's entry point in this process (no interpreter start-up per case): exit code and one error line."
    from sequence_fx.pipeline import pipeline_cli
    with pytest.raises(SystemExit) as e: pipeline_cli([*map(str, argv)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == code, (e.value.code, lines[-5:])
    assert lines and lines[-1].startswith("sfx-pipeline: error:") and text in lines[-1], lines[-5:]

def test_help_and_one_line_errors(tmp_path, capsys):
    r = sfx_pipeline("--help")                                    # the installed console script
    assert r.returncode == 0, r.stderr
    for flag in ["--pairs", "--run-histdata-download", "--years", "--epochs", "--run-rl-training", "--rl-env-mode", "--rl-num-workers",
                 "--multitask", "--ensemble", "--config", "--dataset", "--t-in", "--intrinsic-time", "--spread-pips", "--force"]:
        assert flag in r.stdout, flag
    (tmp_path / "typo.toml").write_text("epoch = 50\n")
    for args, code, text in [(["--pairs", "eurxyz"], 1, "unknown pair"), (["--epochs", "ten"], 2, "invalid int value"),
                             (["--config", tmp_path / "typo.toml"], 2, "unknown key 'epoch'"),
                             (["--run-histdata-download"], 1, "needs --years"),
                             (["--ensemble", "--timesfm-path", tmp_path / "nowhere"], 1, "TimesFM"),
                             (["--run-rl-training", "--rl-algo", "ppo"], 2, "argument --rl-algo: invalid choice 'ppo' (choose from a3c, sac)")]:
        one_line_error(capsys, [*args, "--run-dir", tmp_path / "run", "--data-dir", tmp_path / "data"], code, text)
    with open(tmp_path / "held" / ".lock", "a+") if (tmp_path / "held").mkdir() is None else None as f:   # a live holder of the run directory
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        one_line_error(capsys, [*TINY, "--run-dir", tmp_path / "held", "--data-dir", tmp_path / "data"], 1, "in use by another pipeline")

def test_kill9_mid_training_then_resume_and_changed_config(tmp_path):
    run, data = tmp_path / "run", tmp_path / "data"
    args = [*TINY, "--epochs", "4", "--max-steps-per-epoch", "120", "--patience", "0", "--run-dir", run, "--data-dir", data]
    with open(tmp_path / "first.log", "w") as log:
        p = subprocess.Popen([str(BIN / "sfx-pipeline"), *map(str, args)], stdout=log, stderr=subprocess.STDOUT, env=ENV)
        ck1 = run / "train" / "eurusd" / "checkpoint_epoch_1" / "training_state.pt"
        deadline = time.time() + 600
        while not ck1.exists():                              # the first epoch checkpoint is on disk: training is under way
            assert p.poll() is None, f"sfx-pipeline ended (rc {p.returncode}) before it could be killed:\n{(tmp_path / 'first.log').read_text()[-3000:]}"
            assert time.time() < deadline, "no epoch checkpoint after 10 minutes"
            time.sleep(0.02)
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    assert p.returncode == -signal.SIGKILL
    before = status(run)["stages"]
    assert before["eurusd/prepare"]["state"] == "done" and before["eurusd/train"]["state"] == "running", before
    done_epochs = sorted(int(d.name.rsplit("_", 1)[1]) for d in (run / "train" / "eurusd").glob("checkpoint_epoch_*") if not d.name.startswith("."))
    assert done_epochs and done_epochs[-1] < 4, f"training finished before the kill ({done_epochs}); make the epochs longer"
    history_before = (run / "train" / "eurusd" / "metrics.jsonl").read_text().splitlines()

    r = sfx_pipeline(*args)                                       # the same command again
    assert r.returncode == 0, r.stderr[-3000:]
    after = status(run)["stages"]
    # prepare had finished: not redone (same run count, same timestamps); training resumed from its last checkpoint
    assert after["eurusd/prepare"]["runs"] == 1 and after["eurusd/prepare"]["finished"] == before["eurusd/prepare"]["finished"]
    tr = after["eurusd/train"]
    assert tr["state"] == "done" and tr["runs"] == 2 and tr["resumed"] is True, tr
    assert tr["outputs"]["values"]["resumed_from"].endswith(f"checkpoint_epoch_{done_epochs[-1]}")
    history = (run / "train" / "eurusd" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(l)["epoch"] for l in history] == [1, 2, 3, 4]
    assert history[:done_epochs[-1]] == history_before[:done_epochs[-1]]          # finished epochs kept, not retrained
    assert all(after[s]["state"] == "done" and after[s]["runs"] == 1 for s in ("eurusd/evaluate", "report"))
    second = [e for e in events(run) if e["pid"] != before["eurusd/train"]["pid"]]
    assert [(e["stage"], e["event"]) for e in second if e["event"] in ("skipped", "resumed", "started")] == \
        [("eurusd/prepare", "skipped"), ("eurusd/train", "resumed"), ("eurusd/evaluate", "started"), ("report", "started")]
    assert "resuming from" in (run / "pipeline.log").read_text()
    from sequence_fx.evaluation import external_urls
    page = (run / "index.html").read_text()
    assert external_urls(page) == [] and "evaluate/eurusd/report.html" in page and "model − best baseline" in page

    # a config file under the command line: the file's spread 3.0 is overridden by --spread-pips 2; the epochs (4) are unchanged,
    # so only the evaluation and the report re-run
    (tmp_path / "exp.toml").write_text('spread_pips = 3.0\n[train]\nepochs = 4\nmax-steps-per-epoch = 120\n')
    r = sfx_pipeline("--config", tmp_path / "exp.toml", *args, "--spread-pips", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    final = status(run)["stages"]
    assert {s: final[s]["runs"] for s in final} == {"eurusd/prepare": 1, "eurusd/train": 2, "eurusd/evaluate": 2, "report": 2}
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["evaluation"]["spread_pips"] == 2.0 and cfg["config_file"].endswith("exp.toml")
    m = json.loads((run / "evaluate" / "eurusd" / "metrics.json").read_text())
    assert m["execution"]["spread_pips"] == 2.0
