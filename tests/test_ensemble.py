"""sfx-ensemble as a user runs it, offline: --help, one-line errors (no TimesFM weights, no checkpoint, mismatched
windows, empty --years), and a real run end to end — a tiny SignalModel really trained on the EURUSD sample and a tiny
random TimesFM built from the package's classes — whose second run reads every forecast from the disk cache."""
import json, os
from pathlib import Path

import pytest

from sequence_fx.data import load_sample
from sequence_fx.dataset import DataConfig, prepare_dataset
from sequence_fx.encoder import ModelConfig
from sequence_fx.training import TrainingConfig, train
from sequence_fx.prepare import DatasetSpec, prepare_spec
from sequence_fx.tsfm import HUB_IDS, save_random_timesfm

TINY = ModelConfig(cnn_channels=(8,), cnn_kernels=(3,), lstm_hidden=8, attn_dim=16, attn_heads=2, embed_dim=16, head_hidden=16)
QUICK = TrainingConfig(epochs=1, max_steps_per_epoch=4, progress=False, patience=0)
ENV = {"SFX_LOG_LEVEL": "WARNING", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}

@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    "A checkpoint root with eurusd/best_model.pt (t_in=32, t_out=10) and a tiny TimesFM 2.5 directory."
    d = tmp_path_factory.mktemp("ens")
    prep = prepare_dataset(load_sample(), DataConfig(pair="eurusd", t_in=32, t_out=10))
    train(prep, TINY, QUICK, d / "models" / "eurusd")
    return d, d / "models", save_random_timesfm(d / "tiny25", "2.5"), save_random_timesfm(d / "tiny3", "3")

def one_line_error(r, prog="sfx-ensemble", code=1):
    "The one stderr line of a failed run: exit 1 for a bad value found while running, 2 for a usage error argparse caught."
    lines = r.stderr.strip().splitlines()
    assert r.returncode == code and len(lines) == 1 and lines[0].startswith(f"{prog}: error:"), r.stderr[-3000:]
    return lines[0]

def test_help(cli):
    r = cli("sfx-ensemble", "--help", env=ENV)
    assert r.returncode == 0, r.stderr
    for flag in ["--pairs", "--years", "--t-in", "--t-out", "--checkpoint-root", "--dataset", "--device", "--timesfm-version", "--timesfm-path",
                 "--forecast-cache", "--spread-pips", "--report-dir", "--truncation-audit", "DatasetSpec flags"]:
        assert flag in r.stdout, flag

def test_no_weights_one_clear_error(cli, tmp_path):
    env = {**ENV, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_CACHE": str(tmp_path / "hf" / "hub")}
    for version in ["2.5", "3"]:
        line = one_line_error(cli("sfx-ensemble", "--timesfm-version", version, "--checkpoint-root", tmp_path, env=env))
        for part in [f"TimesFM {version} weights not found", HUB_IDS[version], f"hf download {HUB_IDS[version]}", "--timesfm-path",
                     str(tmp_path / "hf" / "hub")]:
            assert part in line, (part, line)

def test_bad_arguments_one_line(cli_here, setup, tmp_path):
    d, models, tiny, _ = setup
    common = ["--checkpoint-root", models, "--timesfm-path", tiny, "--data-dir", d / "data", "--device", "cpu"]
    for args, code, text in [(["--timesfm-version", "4"], 2, "argument --timesfm-version: invalid choice '4' (choose from 2.5, 3)"),
                             (["--pairs", "gbpusd"], 1, "sfx-train --pairs gbpusd"),
                             (["--t-in", "32", "--t-out", "5"], 1, "trained with t_out=10"),
                             (["--dataset", tmp_path], 1, "neither a prepared dataset directory"),
                             (["--timesfm-path", tmp_path], 1, "has no model.safetensors"),
                             (["--years", "2016"], 1, "no rows in those years"),
                             (["--years", "last"], 1, "comma-separated years")]:
        line = one_line_error(cli_here("sfx-ensemble", *common, *args, env=ENV), code=code)
        assert text in line, (args, line)
    r = cli_here("sfx-ensemble", "--context-len", "many", env=ENV)
    assert r.returncode == 2 and "invalid int value" in r.stderr

def test_end_to_end_and_cache(cli, setup):
    d, models, tiny, _ = setup
    args = ["--pairs", "eurusd", "--checkpoint-root", models, "--timesfm-path", tiny, "--device", "cpu", "--context-len", "128",
            "--forecast-cache", d / "fcache", "--report-dir", d / "reports", "--data-dir", d / "data", "--n-boot", "100",
            "--spread-pips", "1.2", "--no-progress"]
    r = cli("sfx-ensemble", *args, env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "minus best member" in r.stdout and "report" in r.stdout
    rep = d / "reports" / "eurusd"
    m = json.loads((rep / "metrics.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert list(m["metrics"])[:4] == ["ensemble", "stacked", "supervised", "timesfm"]
    assert {"majority", "logistic", "persistence"} <= set(m["metrics"])
    n = m["n_rows"]
    for name in ["ensemble", "stacked", "supervised", "timesfm", "logistic"]:
        mm = m["metrics"][name]
        assert mm["_n"] == n and mm["log_loss"]["lo"] <= mm["log_loss"]["value"] <= mm["log_loss"]["hi"], (name, mm["log_loss"])
    e = m["ensemble"]
    assert e["fit_split"] == "val" and abs(sum(e["weights"].values()) - 1) < 1e-9 and e["best_member"] in ("supervised", "timesfm")
    for combo in ["ensemble", "stacked"]:
        pd_ = e["paired_vs_best_member"][combo]["log_loss"]
        assert pd_["lo"] <= pd_["value"] <= pd_["hi"]
    assert set(e["backtests"]) == {"ensemble", "stacked", "supervised", "timesfm"}
    assert m["execution"]["spread_pips"] == 1.2 and max(m["engine_agreement"].values()) <= 1e-6
    tf = e["timesfm"]["timesfm"]
    assert tf["version"] == "2.5" and tf["licence"] == "Apache-2.0" and tf["n_params"] < 1e6 and tf["context_len"] == 128
    assert tf["computed"] == n and tf["from_cache"] == 0
    page = (rep / "report.html").read_text()
    assert "Paired differences against the best member" in page and "tiny test model with random weights" in page
    a = m["audit"]                                                 # the harness's audit judges the ensemble, in the same report
    assert a["verdict"] and "ensemble" in a["verdict"] and a["truncation"]["status"] in ("ok", "partial")
    assert set(e["member_alarms"]) == {"stacked", "supervised", "timesfm"}
    for combo in ["ensemble", "stacked"]:
        assert e["paired_vs_best_member"][combo]["log_loss"]["verdict"] in ("better", "worse", "no difference")
    # the re-run reads every TimesFM forecast from the cache and gets the same numbers
    r2 = cli("sfx-ensemble", *args, env=ENV)
    assert r2.returncode == 0, r2.stderr[-3000:]
    m2 = json.loads((rep / "metrics.json").read_text())
    tf2 = m2["ensemble"]["timesfm"]["timesfm"]
    assert (tf2["computed"], tf2["from_cache"]) == (0, n)
    assert m2["metrics"]["timesfm"]["log_loss"] == m["metrics"]["timesfm"]["log_loss"]
    assert m2["ensemble"]["weights"] == e["weights"]
    # --years keeps the test rows of 2018 only (the sample's test split crosses the New Year); the fitted rules are the same
    r3 = cli("sfx-ensemble", *args, "--years", "2018", "--report-dir", d / "reports18", env=ENV)
    assert r3.returncode == 0, r3.stderr[-3000:]
    m3 = json.loads((d / "reports18" / "eurusd" / "metrics.json").read_text())
    assert 0 < m3["n_rows"] < n and m3["first_time"].startswith("2018") and m3["meta"]["years"] == [2018]
    assert m3["ensemble"]["weights"] == e["weights"]

def test_timesfm_3_and_its_licence(cli, setup):
    "TimesFM 3 through the same command: its non-commercial weights licence is in metrics.json and, in bold, in the report."
    d, models, _, tiny3 = setup
    r = cli("sfx-ensemble", "--checkpoint-root", models, "--timesfm-version", "3", "--timesfm-path", tiny3, "--device", "cpu",
            "--context-len", "64", "--forecast-cache", "", "--report-dir", d / "reports3", "--data-dir", d / "data", "--n-boot", "50",
            "--no-progress", env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((d / "reports3" / "eurusd" / "metrics.json").read_text())
    tf = m["ensemble"]["timesfm"]["timesfm"]
    assert tf["version"] == "3" and "non-commercial" in tf["licence"] and tf["computed"] == m["n_rows"]
    assert "<b>timesfm-non-commercial-license-v1.0" in (d / "reports3" / "eurusd" / "report.html").read_text()

def test_dataset_by_directory(cli, setup):
    "--dataset names a prepared dataset; it is the one evaluated (and recorded), the checkpoint is checked against it."
    d, models, tiny, _ = setup
    ds = prepare_spec("eurusd", DatasetSpec(t_in=32, t_out=10), d / "data2")
    key = ds.meta["cache_key"]
    r = cli("sfx-ensemble", "--checkpoint-root", models, "--timesfm-path", tiny, "--device", "cpu", "--context-len", "64",
            "--forecast-cache", "", "--dataset", d / "data2" / "eurusd" / key[:12], "--report-dir", d / "reports_ds", "--n-boot", "50",
            "--no-truncation-audit", "--no-progress", env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((d / "reports_ds" / "eurusd" / "metrics.json").read_text())
    assert m["meta"]["dataset"]["cache_key"] == key and m["meta"]["dataset"]["origin"] == "given"
    assert m["audit"]["truncation"] is None or m["audit"]["truncation"].get("status") != "leak"
