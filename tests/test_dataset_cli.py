"""One dataset from sfx-prepare to sfx-train, through the console scripts: the same dataset flags (or --dataset KEY) give
the dataset sfx-prepare built — DC bars, news sentiment, feature plug-ins, a daily CSV — and a contradiction is an error."""
import json, os, textwrap
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from sequence_fx.features import random_bars
from sequence_fx.prepare import load_prepared

TINY = ["--epochs", "1", "--max-steps-per-epoch", "2", "--batch-size", "32", "--cnn-channels", "8", "--lstm-hidden", "8",
        "--attn-heads", "2", "--no-progress", "--threads", "1", "--device", "cpu"]
ENV = {"OMP_NUM_THREADS": "1", "SFX_LOG_LEVEL": "INFO"}

def _plugin_dir(tmp_path) -> Path:
    d = tmp_path / "plugins"; d.mkdir()
    (d / "range_z.py").write_text(textwrap.dedent('''
        import numpy as np, pandas as pd
        from sequence_fx.features import register_feature
        @register_feature("range_z")
        def range_z(bars, cfg):   # causal: today's range against the trailing 20 bars
            r = np.log(bars["high"] / bars["low"])
            return pd.DataFrame({"range_z": (r - r.rolling(20).mean()) / r.rolling(20).std()}, index=bars.index)
        '''))
    return d

def _daily_csv(tmp_path) -> Path:
    bars = random_bars(900, seed=4, start="2019-01-01", freq="1D", vol=6e-3)
    f = tmp_path / "daily.csv"
    bars.rename_axis("date").reset_index().assign(date=lambda d: d["date"].dt.strftime("%Y-%m-%d")).to_csv(f, index=False)
    return f

def _gkg_dir(tmp_path) -> Path:
    from sequence_fx.sentiment import write_synthetic_gkg
    d = tmp_path / "gkg"
    write_synthetic_gkg(d, "2018-01-25", "2018-02-08", per_batch=1, seed=0)   # news for the last two weeks of the sample
    return d

CASES = {  # name -> (dataset flags, a column the dataset must have, a fixture building its inputs)
    "dc_bars": (lambda p: ["--intrinsic-time", "--dc-threshold-up", "0.0005", "--t-in", "24", "--t-out", "5"], "dc_return"),
    "sentiment": (lambda p: ["--include-sentiment", "--sentiment-model", "none", "--gdelt-dir", _gkg_dir(p), "--t-in", "24", "--t-out", "5"],
                  "sent_pair_tone"),
    "plugin": (lambda p: ["--feature-plugins", _plugin_dir(p), "--plugins", "range_z", "--t-in", "24", "--t-out", "5"], "range_z"),
    "daily_csv": (lambda p: ["--source", "csv", "--input", _daily_csv(p), "--timeframe", "1d", "--t-in", "20", "--t-out", "3"], "rsi_14"),
}

@pytest.mark.parametrize("case", list(CASES))
def test_train_uses_the_prepared_dataset(cli, tmp_path, case):
    make_flags, column = CASES[case]
    flags = [str(a) for a in make_flags(tmp_path)]
    data = tmp_path / "data"
    r = cli("sfx-prepare", *flags, "--data-dir", data, env=ENV)
    assert r.returncode == 0, r.stderr
    ds = load_prepared(data, "eurusd")
    key = ds.meta["cache_key"]
    assert column in ds.feature_columns and f"dataset key {key[:12]}" in r.stdout
    assert ds.meta["dataset_spec"]["t_in"] == int(flags[flags.index("--t-in") + 1])
    latest = (data / "eurusd" / "LATEST").read_text()
    # the same flags: the same dataset, found in the cache (nothing rebuilt), and LATEST still names it
    r = cli("sfx-train", *flags, *TINY, "--data-dir", data, "--run-dir", tmp_path / "runs", env=ENV)
    assert r.returncode == 0, r.stderr
    assert "reusing cached dataset" in r.stderr and f"dataset {key[:12]}" in r.stdout
    ck = torch.load(tmp_path / "runs" / "eurusd" / "best_model.pt", weights_only=True)
    assert ck["cache_key"] == key and ck["dataset_spec"] == ds.meta["dataset_spec"]
    assert json.loads((tmp_path / "runs" / "eurusd" / "config.json").read_text())["cache_key"] == key
    assert (data / "eurusd" / "LATEST").read_text() == latest
    assert sorted(p.name for p in (data / "eurusd").iterdir() if p.is_dir()) == [key[:12]]      # no second dataset was built
    # --dataset KEY: the same dataset, without the flags
    r = cli("sfx-train", "--dataset", key[:12], *TINY, "--data-dir", data, "--run-dir", tmp_path / "runs2", env=ENV)
    assert r.returncode == 0, r.stderr
    assert torch.load(tmp_path / "runs2" / "eurusd" / "best_model.pt", weights_only=True)["cache_key"] == key

def test_dataset_flags_must_agree_with_dataset(cli, cli_here, tmp_path):
    data = tmp_path / "data"
    r = cli("sfx-prepare", "--t-in", "24", "--t-out", "5", "--data-dir", data, env=ENV)
    assert r.returncode == 0, r.stderr
    key = load_prepared(data, "eurusd").meta["cache_key"]
    # flags that agree are fine (also when given as the dataset directory)
    d = data / "eurusd" / key[:12]
    r = cli("sfx-train", "--dataset", d, "--t-in", "24", *TINY, "--data-dir", data, "--run-dir", tmp_path / "runs", env=ENV)
    assert r.returncode == 0, r.stderr
    for args, text in [(["--dataset", key[:12], "--t-in", "64", "--intrinsic-time"], "--t-in 64 (dataset: 24), --intrinsic-time on (dataset: off)"),
                       (["--dataset", key[:12], "--t-out", "10"], "--t-out 10 (dataset: 5)"),     # 10 is the default, but it was given
                       (["--dataset", "0123456789ab"], "no prepared dataset with that key"),
                       (["--dataset", key[:12], "--pairs", "eurusd,gbpusd"], "names one dataset")]:
        r = cli_here("sfx-train", *args, *TINY, "--data-dir", data, "--run-dir", tmp_path / "bad", env=ENV)   # in this process
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 1 and lines[-1].startswith("sfx-train: error:") and text in lines[-1], r.stderr
    assert not (tmp_path / "bad" / "eurusd" / "best_model.pt").exists()

SPY = textwrap.dedent("""
    import os, sys
    os.environ.pop("OMP_WAIT_POLICY", None)
    seen = []
    class Spy:                       # records OMP_WAIT_POLICY when torch (which starts OpenMP) is first imported
        def find_spec(self, name, path=None, target=None):
            if name == "torch" and not seen: seen.append(os.environ.get("OMP_WAIT_POLICY"))
    sys.meta_path.insert(0, Spy())
    sys.argv = ["sfx-train", "--help"]
    {start}
    print("policy at torch import:", seen)
""")

def test_console_scripts_start_through_the_thread_friendly_launchers(cli):
    import subprocess, sys
    eps = {e.name: e.value for e in entry_points(group="console_scripts") if e.name.startswith("sfx-")}
    assert eps == {"sfx-prepare": "sequence_fx.data:sfx_prepare", "sfx-train": "sequence_fx.data:sfx_train",
                   "sfx-train-multitask": "sequence_fx.data:sfx_train_multitask",
                   "sfx-evaluate": "sequence_fx.data:sfx_evaluate", "sfx-gdelt-download": "sequence_fx.data:sfx_gdelt_download",
                   "sfx-ensemble": "sequence_fx.data:sfx_ensemble", "sfx-a3c": "sequence_fx.data:sfx_a3c",
                   "sfx-sac": "sequence_fx.data:sfx_sac", "sfx-pipeline": "sequence_fx.data:sfx_pipeline",
                   "sfx-tune": "sequence_fx.data:sfx_tune"}
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    run = lambda start: subprocess.run([sys.executable, "-c", SPY.format(start=start)], capture_output=True, text=True, env=env, timeout=300)
    r = run("from sequence_fx.data import sfx_train\ntry: sfx_train()\nexcept SystemExit: pass")
    assert "policy at torch import: ['PASSIVE']" in r.stdout, r.stdout + r.stderr       # set before torch loads OpenMP
    r = run("import sequence_fx.training")                                                  # control: a plain import is too late
    assert "policy at torch import: [None]" in r.stdout, r.stdout + r.stderr
    r = cli("sfx-train", "--help")
    assert r.returncode == 0 and "--threads" in r.stdout and "DatasetSpec flags" in r.stdout
