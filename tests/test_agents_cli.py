"""sfx-a3c and sfx-sac as a user runs them: --help, one-line errors, and a short run end to end — dataset from the cache,
training, the greedy policy evaluated against the baselines, the report in the harness's format, JSON-lines logs."""
import json, os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from sequence_fx.dataset import DataConfig, prepare_dataset
from sequence_fx.agents import trend_bars, read_log
from sequence_fx.training import load_state


@pytest.fixture(scope="module")
def trend_dir(tmp_path_factory):
    ds = prepare_dataset(trend_bars(1200, seed=2), DataConfig(t_in=16, t_out=5))
    return ds.save(tmp_path_factory.mktemp("trend") / "ds")


@pytest.mark.parametrize("name", ["sfx-a3c", "sfx-sac"])
def test_help_lists_the_original_and_dataset_flags(cli, name):
    r = cli(name, "--help")
    assert r.returncode == 0, r.stderr
    for f in ["--pair", "--env-mode", "--historical-data", "--total-steps", "--seed", "--encoder-checkpoint", "--run-dir", "--resume",
              "--data-dir", "--dataset", "--source", "--t-in", "--intrinsic-time", "DatasetSpec flags"]:
        assert f in r.stdout, (name, f)
    if name == "sfx-a3c": assert "--num-workers" in r.stdout


@pytest.mark.parametrize("name, args, msg", [
    ("sfx-a3c", ["--pair", "eurusdx"], "pair"),
    ("sfx-a3c", ["--eval-split", "train"], "--eval-split"),
    ("sfx-a3c", ["--num-workers", "two"], "invalid int value"),
    ("sfx-sac", ["--action", "both"], "discrete"),
    ("sfx-sac", ["--historical-data", "/nonexistent/dataset"], "nonexistent"),
    ("sfx-sac", ["--device", "cuda:7"], "cuda"),
    ("sfx-sac", ["--historical-data", "a", "--dataset", "b"], "name different datasets"),
])
def test_bad_arguments_fail_with_one_line(capsys, monkeypatch, tmp_path, name, args, msg):
    "In-process through the function the console script calls (a3c_cli / sac_cli): a fresh interpreter per case costs seconds of imports."
    from sequence_fx.a3c import a3c_cli
    from sequence_fx.sac import sac_cli
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        {"sfx-a3c": a3c_cli, "sfx-sac": sac_cli}[name]([*args, "--data-dir", str(tmp_path / "data"), "--run-dir", str(tmp_path / "runs")])
    assert e.value.code not in (0, None)
    err = capsys.readouterr().err
    lines = [l for l in err.strip().splitlines() if l.startswith(f"{name}: error")]
    assert len(lines) == 1 and msg in lines[0], err[-1500:]
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("name", ["sfx-a3c", "sfx-sac"])
def test_dataset_flags_that_contradict_the_named_dataset_fail(capsys, monkeypatch, trend_dir, tmp_path, name):
    "--t-in 32 with a dataset prepared at t_in=16 would observe other windows than asked for: refused before any training."
    from sequence_fx.a3c import a3c_cli
    from sequence_fx.sac import sac_cli
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        {"sfx-a3c": a3c_cli, "sfx-sac": sac_cli}[name](["--historical-data", str(trend_dir), "--t-in", "32", "--run-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert e.value.code == 1 and "--t-in 32 (dataset: 16)" in err, err[-1500:]
    assert not (tmp_path / "runs").exists()


def _check_report(run, agent):
    rep = run / "report"
    for f in ["report.html", "metrics.json", "policies.csv", "positions.html", "learning_curves.html"]: assert (rep / f).is_file(), f
    m = json.loads((rep / "metrics.json").read_text())
    assert m["name"] == agent and m["split"] == "val"
    assert {"flat", "buy and hold", "random", agent} <= set(m["meta"]["policies"])
    assert m["meta"]["verdict"].startswith(f"{agent}: ")
    kinds = {r["kind"] for r in read_log(run)}
    assert {"episode", "update"} <= kinds


def test_sfx_sac_end_to_end(cli, trend_dir, tmp_path):
    r = cli("sfx-sac", "--historical-data", trend_dir, "--action", "continuous", "--total-steps", "1200", "--learning-starts", "400",
            "--episode-length", "64", "--batch-size", "64", "--device", "cpu", "--eval-split", "val", "--ppo-steps", "0", "--n-boot", "100",
            "--run-dir", tmp_path / "runs", "--no-progress", cwd=tmp_path, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "SAC (continuous) 1,200 steps" in r.stdout and "val net return" in r.stdout
    run = tmp_path / "runs" / "eurusd"
    _check_report(run, "SAC (continuous)")
    st = load_state(run / "checkpoint.pt")
    assert st["steps"] == 1200 and st["config"]["action"] == "continuous"


def test_sfx_a3c_end_to_end_with_ppo_peer(cli, trend_dir, tmp_path):
    r = cli("sfx-a3c", "--historical-data", trend_dir, "--num-workers", "0", "--total-steps", "1500", "--episode-length", "64",
            "--learning-rate", "1e-3", "--eval-split", "val", "--ppo-steps", "512", "--n-boot", "100", "--run-dir", tmp_path / "runs",
            "--no-progress", cwd=tmp_path, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    run = tmp_path / "runs" / "eurusd"
    _check_report(run, "A3C")
    assert "SB3 PPO" in json.loads((run / "report" / "metrics.json").read_text())["meta"]["policies"]
