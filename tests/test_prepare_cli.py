"""sfx-prepare as a user runs it: --help, one-line errors, the offline default, the cache, HistData input."""
import json, re

import pandas as pd

from sequence_fx.data import write_histdata
from sequence_fx.features import random_bars
from sequence_fx.prepare import load_prepared

def test_help(cli_here):
    r = cli_here("sfx-prepare", "--help")
    assert r.returncode == 0 and "--t-in" in r.stdout and "--source-tz" in r.stdout and "--pairs" in r.stdout
    for name in ["sfx-train", "sfx-evaluate", "sfx-gdelt-download"]:   # every console script answers --help
        r = cli_here(name, "--help")
        assert r.returncode == 0 and "usage:" in r.stdout, (name, r.stderr)

def test_bad_arguments_exit_nonzero_with_one_line(cli_here, tmp_path):
    for args, code, text in [(["--t-in", "abc"], 2, "invalid int value"),
                             (["--pairs", "eurxyz", "--data-dir", tmp_path], 1, "unknown pair"),
                             (["--pairs", "gbpusd", "--data-dir", tmp_path], 1, "sample holds EURUSD only"),
                             (["--task-type", "ranking", "--data-dir", tmp_path], 2, "argument --task-type: invalid choice 'ranking' (choose from classification, binary, regression)"),
                             (["--source", "histdata", "--data-dir", tmp_path], 1, "needs --input"),
                             (["--source-tz", "Mars/Base", "--data-dir", tmp_path], 1, "unknown source time zone"),
                             (["--on-bad-rows", "ignore", "--data-dir", tmp_path], 2, "argument --on-bad-rows: invalid choice 'ignore' (choose from raise, drop)"),
                             (["--pairs", ",", "--data-dir", tmp_path], 1, "no pair given"),
                             (["--source", "histdata", "--input", tmp_path / "x.csv", "--data-dir", tmp_path], 1, "no such file"),
                             (["--t-in", "6000", "--data-dir", tmp_path], 1, "not enough bars")]:
        r = cli_here("sfx-prepare", *args)
        assert r.returncode == code, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("sfx-prepare: error:") and text in r.stderr, r.stderr

def test_default_run_offline_and_cache(cli, tmp_path):
    r = cli("sfx-prepare", "--data-dir", tmp_path)
    assert r.returncode == 0, r.stderr
    ds = load_prepared(tmp_path, "eurusd")
    meta = ds.meta
    assert meta["splits"]["train"]["samples"] > 3000 and meta["gap"] == 130
    html = (tmp_path / "eurusd" / meta["cache_key"][:12] / "summary.html").read_text()
    assert "plotly" in html and not re.search(r"""<(script|link)[^>]+(src|href)=["']?(https?:)?//""", html)  # JS inline, nothing fetched
    r2 = cli("sfx-prepare", "--data-dir", tmp_path)
    assert r2.returncode == 0 and "reusing cached dataset" in r2.stderr
    r3 = cli("sfx-prepare", "--t-in", "48", "--data-dir", tmp_path)           # other options: a second dataset beside the first
    assert r3.returncode == 0 and load_prepared(tmp_path, "eurusd").data_cfg.t_in == 48
    assert load_prepared(tmp_path, "eurusd", meta["cache_key"]).data_cfg.t_in == 120

def test_histdata_source_with_zone(cli, tmp_path):
    bars = random_bars(6000, seed=3, start="2021-03-01", freq="1min")
    write_histdata(bars, tmp_path / "DAT_ASCII_GBPUSD_M1_2021.csv", source_tz="America/Chicago")
    r = cli("sfx-prepare", "--pairs", "gbpusd", "--source", "histdata", "--input", tmp_path / "DAT_ASCII_{pair}_M1_*.csv".replace("{pair}", "GBPUSD"),
            "--source-tz", "America/Chicago", "--timeframe", "5m", "--t-in", "24", "--t-out", "3", "--data-dir", tmp_path / "d")
    assert r.returncode == 0, r.stderr
    frame = load_prepared(tmp_path / "d", "gbpusd").frame
    assert frame.index[0] == pd.Timestamp("2021-03-01 00:00", tz="UTC") and len(frame) == 1200

def test_intrinsic_time_flags(cli, tmp_path):
    r = cli("sfx-prepare", "--intrinsic-time", "--dc-threshold-up", "0.0005", "--dc-threshold-down", "0.0007",
            "--t-in", "30", "--t-out", "5", "--data-dir", tmp_path)
    assert r.returncode == 0, r.stderr
    meta = load_prepared(tmp_path, "eurusd").meta
    assert "dc_return" in meta["feature_columns"] and meta["spec"]["intrinsic_time"]
    assert meta["n_rows"] < 2000  # DC bars, not the 5,000 clock bars
    r = cli("sfx-prepare", "--intrinsic-time", "--dc-threshold-up", "-1", "--data-dir", tmp_path)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "theta_up" in r.stderr

def test_sentiment_flags_with_gdelt_tone_only(cli, tmp_path):
    from sequence_fx.sentiment import write_synthetic_gkg
    # the last ten weeks of the sample (6,700 batches); bars before them have no news (sent_coverage 0, a warning)
    write_synthetic_gkg(tmp_path / "gkg", "2017-12-01", "2018-02-08", per_batch=1, seed=0)
    r = cli("sfx-prepare", "--include-sentiment", "--gdelt-dir", tmp_path / "gkg", "--sentiment-model", "none",
            "--t-in", "48", "--t-out", "5", "--data-dir", tmp_path / "d")
    assert r.returncode == 0, r.stderr
    meta = load_prepared(tmp_path / "d", "eurusd").meta
    assert "sent_pair_tone" in meta["feature_columns"] and not any("finbert" in c for c in meta["feature_columns"])
    r = cli("sfx-prepare", "--include-sentiment", "--gdelt-dir", tmp_path / "gkg", "--sentiment-model", tmp_path / "no-model",
            "--data-dir", tmp_path / "d2")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr

def test_csv_source_with_mapping_and_time_format(cli, tmp_path):
    bars = random_bars(3000, seed=5, start="2022-06-01", freq="15min")
    pd.DataFrame({"Date": bars.index.tz_convert("Europe/Berlin").strftime("%d.%m.%Y %H:%M"), "Bid Open": bars["open"], "Bid High": bars["high"],
                  "Bid Low": bars["low"], "Bid Close": bars["close"]}).to_csv(tmp_path / "quotes.csv", index=False)
    r = cli("sfx-prepare", "--source", "csv", "--input", tmp_path / "quotes.csv", "--timeframe", "1h", "--source-tz", "UTC+02:00",
            "--columns", "time=Date,open=Bid Open,high=Bid High,low=Bid Low,close=Bid Close", "--time-format", "%d.%m.%Y %H:%M",
            "--t-in", "24", "--t-out", "4", "--data-dir", tmp_path / "d")
    assert r.returncode == 0, r.stderr
    ds = load_prepared(tmp_path / "d", "eurusd")
    assert ds.frame.index[0] == pd.Timestamp("2022-06-01 00:00", tz="UTC") and len(ds.frame) == 750   # 15-minute bars -> hours, in UTC
    r = cli("sfx-prepare", "--source", "csv", "--input", tmp_path / "quotes.csv", "--columns", "opn=Bid Open", "--data-dir", tmp_path / "d")
    assert r.returncode == 1 and "--columns" in r.stderr and len(r.stderr.strip().splitlines()) == 1

def test_dataset_flags_are_one_definition():
    "sfx-prepare, sfx-train and sfx-evaluate take the same dataset flags: same names, defaults, types and help (one DatasetSpec)."
    from dataclasses import fields
    from sequence_fx.data import cli_parser
    from sequence_fx.prepare import DatasetSpec, prepare_command
    from sequence_fx.training import train_command
    from sequence_fx.evaluation import evaluate_command
    names = {f.name for f in fields(DatasetSpec)}
    flags = lambda cmd: {a.dest: (tuple(a.option_strings), a.default, a.help, a.type) for a in cli_parser(cmd)._actions if a.dest in names}
    p = flags(prepare_command)
    assert set(p) == names and flags(train_command) == p and flags(evaluate_command) == p
    assert p["t_in"][1] == 120 and p["intrinsic_time"][0] == ("--intrinsic-time", "--no-intrinsic-time")
