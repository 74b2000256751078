"""A catalogue of bad inputs across loaders, CLIs, datasets and checkpoints.

Each case runs a command's `*_cli(argv)` in-process (no process start: the catalogue stays fast) and asserts: a
non-zero exit code, exactly one line on stderr that names the file/row/field or the flag at fault, and that nothing
on disk changed (every file under the test's root hashed before and after).
"""
import hashlib, io, json, os, shutil, signal, sys, zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from sequence_fx import data as sfx_data
from sequence_fx.data import write_histdata
from sequence_fx.features import random_bars

SMALL = ["--t-in", "24", "--t-out", "5"]
MODEL = ["--cnn-channels", "8", "--lstm-hidden", "8", "--attn-heads", "2", "--batch-size", "64", "--no-progress", "--threads", "1"]
GOOD = ["20210104 170000;1.146020;1.146130;1.145890;1.146130;0",
        "20210104 170100;1.146130;1.146200;1.146000;1.146100;0",
        "20210104 170200;1.146100;1.146300;1.146050;1.146250;0"]


def tree(root: Path) -> dict:
    "path -> (sha256, mode) of every file and directory under root, hidden ones included."
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for d in dirs: out[os.path.relpath(os.path.join(dirpath, d), root)] = ("dir", os.stat(os.path.join(dirpath, d)).st_mode)
        for f in files:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = (hashlib.sha256(Path(p).read_bytes()).hexdigest(), os.stat(p).st_mode)
    return out


def hd(lines):
    return "\n".join(lines) + "\n"


def bad(i, line):
    return hd(GOOD[:i] + [line] + GOOD[i + 1:])


def zip_of(members: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for n, s in members.items(): z.writestr(n, s)
    return buf.getvalue()


def crc_corrupt_zip() -> bytes:
    "A zip whose deflated member has a flipped byte: opening works, unpacking fails (CRC / zlib error)."
    body = "".join(f"202101{d:02d} {h:02d}0000;1.1;1.2;1.0;1.1;0\n" for d in range(4, 28) for h in range(24))
    raw = bytearray(zip_of({"DAT_ASCII_EURUSD_M1_2021.csv": body}))
    raw[len(raw) // 3] ^= 0xFF
    return bytes(raw)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    "A data dir with one prepared dataset, a tiny trained run, and a folder of bad input files (all made once)."
    from sequence_fx.training import train_cli
    old_level = os.environ.get("SFX_LOG_LEVEL")
    os.environ["SFX_LOG_LEVEL"] = "WARNING"                     # restored below: other modules share this worker process
    root = tmp_path_factory.mktemp("bad_inputs")
    data, runs, inp = root / "data", root / "runs", root / "inputs"
    inp.mkdir()
    torch.set_num_threads(1)
    train_cli(["--pairs", "eurusd", *SMALL, *MODEL, "--epochs", "1", "--max-steps-per-epoch", "2", "--patience", "0",
               "--data-dir", str(data), "--run-dir", str(runs)])
    rd = runs / "eurusd"
    assert (rd / "best_model.pt").is_file() and (rd / "checkpoint_epoch_1" / "training_state.pt").is_file()
    ds = next(d for d in (data / "eurusd").iterdir() if (d / "meta.json").is_file())
    files = {
        "impossible_date.csv": bad(1, "20210230 170100;1.146130;1.146200;1.146000;1.146100;0"),
        "april31.csv": bad(1, "20210431 170100;1.146130;1.146200;1.146000;1.146100;0"),
        "blank_line.csv": hd([GOOD[0], "", *GOOD[1:]]),
        "short_line.csv": bad(1, "20210104 170100;1.1;1.2;1.0;1.1"),
        "not_number.csv": bad(1, "20210104 170100;abc;1.146200;1.146000;1.146100;0"),
        "high_lt_low.csv": bad(1, "20210104 170100;1.146130;1.145000;1.146200;1.146100;0"),
        "duplicate.csv": hd(GOOD + ["20210104 170100;1.146130;1.146900;1.146000;1.146800;0"]),
        "unsorted.csv": hd([GOOD[1], GOOD[0], GOOD[2]]),
        "DAT_ASCII_GBPUSD_M1_2021.csv": hd(GOOD),
        "empty.csv": "",
        "ohlcv_mixed_offsets.csv": "time,open,high,low,close\n2021-01-04T00:00+01:00,1,1,1,1\n2021-01-04T02:00,1,1,1,1\n",
        "ohlcv_no_close.csv": "time,open,high,low\n2021-01-04T00:00,1,1,1\n2021-01-04T01:00,1,1,1\n",
        "ohlcv_nan_close.csv": "time,open,high,low,close\n2021-01-04T00:00,1,1,1,1\n2021-01-04T01:00,1,1,1,\n",
        "ohlcv_negative.csv": "time,open,high,low,close\n2021-01-04T00:00,1,1,1,1\n2021-01-04T01:00,-1,1,-1,1\n",
        "not_a_zip.zip": "this is text, not a zip\n",
    }
    for n, s in files.items(): (inp / n).write_text(s)
    (inp / "mixed_pairs.zip").write_bytes(zip_of({"DAT_ASCII_EURUSD_M1_2021.csv": hd(GOOD),
                                                 "DAT_ASCII_USDJPY_M1_2021.csv": hd(g.replace(";1.", ";108.") for g in GOOD)}))
    (inp / "no_csv.zip").write_bytes(zip_of({"readme.txt": "hello"}))
    (inp / "crc.zip").write_bytes(crc_corrupt_zip())
    (inp / "big.zip").write_bytes(zip_of({"DAT_ASCII_EURUSD_M1_2021.csv": hd(GOOD * 400)}))
    # damaged copies of the prepared dataset
    for name in ("ds_scaler", "ds_truncated", "ds_swapped", "ds_t_in"):
        shutil.copytree(ds, inp / name)
    m = json.loads((ds / "meta.json").read_text())
    (inp / "ds_scaler" / "meta.json").write_text(json.dumps({**m, "scaler": {**m["scaler"], "mean": [v + 1 for v in m["scaler"]["mean"]]}}))
    (inp / "ds_truncated" / "meta.json").write_text((ds / "meta.json").read_text()[:200])
    (inp / "ds_t_in" / "meta.json").write_text(json.dumps({**m, "data_cfg": {**m["data_cfg"], "t_in": 30}}))
    import pandas as pd
    f = pd.read_parquet(ds / "frame.parquet")
    f.iloc[::-1].to_parquet(inp / "ds_swapped" / "frame.parquet")
    # damaged checkpoints
    st = torch.load(rd / "best_model.pt", weights_only=True)
    torch.save({k: v for k, v in st.items() if k != "model_cfg"}, inp / "no_model_cfg.pt")
    raw = (rd / "checkpoint_epoch_1" / "training_state.pt").read_bytes()
    (inp / "ck_truncated").mkdir(); (inp / "ck_truncated" / "training_state.pt").write_bytes(raw[: len(raw) // 2])
    yield {"root": root, "data": data, "runs": runs, "inp": inp, "rd": rd, "ds": ds}
    if old_level is None: os.environ.pop("SFX_LOG_LEVEL", None)
    else: os.environ["SFX_LOG_LEVEL"] = old_level


def _cli(name):
    if name == "prepare":
        from sequence_fx.prepare import prepare_cli as f
    elif name == "train":
        from sequence_fx.training import train_cli as f
    elif name == "evaluate":
        from sequence_fx.evaluation import evaluate_cli as f
    else:
        from sequence_fx.sentiment import gdelt_download_cli as f
    return f


def P(w, *a): return ["--data-dir", str(w["data"]), *SMALL, *a]                      # sfx-prepare
def HD(w, f, *a): return P(w, "--source", "histdata", "--input", str(w["inp"] / f), *a)
def CSV(w, f, *a): return P(w, "--source", "csv", "--input", str(w["inp"] / f), *a)
def T(w, *a): return ["--data-dir", str(w["data"]), "--run-dir", str(w["root"] / "runs_new"), *SMALL, *MODEL, *a]
def TD(w, d, *a): return ["--dataset", str(w["inp"] / d), "--run-dir", str(w["root"] / "runs_new"), *MODEL, *a]
def RES(w, *a): return ["--data-dir", str(w["data"]), "--run-dir", str(w["runs"]), *SMALL, *MODEL, "--epochs", "2",
                        "--max-steps-per-epoch", "2", "--patience", "0", "--resume-from-checkpoint", *a]
def E(w, *a): return ["--checkpoint-path", str(w["rd"] / "best_model.pt"), "--data-dir", str(w["data"]),
                      "--report-dir", str(w["root"] / "reports"), "--n-boot", "10", "--no-truncation-audit", *a]


CASES = [  # (id, command, argv builder, what the one line must contain)
    # --- HistData loader, through sfx-prepare
    ("hd_impossible_date", "prepare", lambda w: HD(w, "impossible_date.csv"), "impossible_date.csv, line 2: field 'time'"),
    ("hd_april_31", "prepare", lambda w: HD(w, "april31.csv"), "april31.csv, line 2: field 'time'"),
    ("hd_blank_line", "prepare", lambda w: HD(w, "blank_line.csv"), "blank_line.csv, line 2: empty line"),
    ("hd_short_line", "prepare", lambda w: HD(w, "short_line.csv"), "short_line.csv, line 2: expected 6"),
    ("hd_not_number", "prepare", lambda w: HD(w, "not_number.csv"), "not_number.csv, line 2: field 'open'"),
    ("hd_high_below_low", "prepare", lambda w: HD(w, "high_lt_low.csv"), "high_lt_low.csv, line 2: field 'high'"),
    ("hd_duplicate_suggests_flag", "prepare", lambda w: HD(w, "duplicate.csv"), "--duplicates first|last"),
    ("hd_unsorted_suggests_flag", "prepare", lambda w: HD(w, "unsorted.csv"), "--unsorted sort"),
    ("hd_pair_in_name", "prepare", lambda w: HD(w, "DAT_ASCII_GBPUSD_M1_2021.csv"), "says GBPUSD but the pair asked for is EURUSD"),
    ("hd_zip_mixed_pairs", "prepare", lambda w: HD(w, "mixed_pairs.zip"), "different pairs"),
    ("hd_zip_crc", "prepare", lambda w: HD(w, "crc.zip"), "crc.zip!DAT_ASCII_EURUSD_M1_2021.csv: corrupt zip member"),
    ("hd_zip_no_csv", "prepare", lambda w: HD(w, "no_csv.zip"), "no_csv.zip: zip holds no .csv"),
    ("hd_not_a_zip", "prepare", lambda w: HD(w, "not_a_zip.zip"), "not_a_zip.zip: not a valid zip"),
    ("hd_empty", "prepare", lambda w: HD(w, "empty.csv"), "empty.csv: empty file"),
    ("hd_zip_member_cap", "prepare", lambda w: HD(w, "big.zip"), "over the 1000-byte limit"),
    ("input_missing", "prepare", lambda w: HD(w, "nope.csv"), "nope.csv: no such file"),
    # --- generic CSV loader
    ("csv_offset_and_naive", "prepare", lambda w: CSV(w, "ohlcv_mixed_offsets.csv"), "ohlcv_mixed_offsets.csv, line 3: field 'time'"),
    ("csv_no_close", "prepare", lambda w: CSV(w, "ohlcv_no_close.csv"), "field 'close': no such column"),
    ("csv_nan_close", "prepare", lambda w: CSV(w, "ohlcv_nan_close.csv"), "line 3: field 'close'"),
    ("csv_negative", "prepare", lambda w: CSV(w, "ohlcv_negative.csv"), "line 3: field 'open'"),
    # --- sfx-prepare flags
    ("flat_threshold_nan", "prepare", lambda w: P(w, "--flat-threshold", "nan"), "flat_threshold must be a finite number"),
    ("flat_threshold_negative", "prepare", lambda w: P(w, "--flat-threshold", "-1"), "flat_threshold"),
    ("t_in_zero", "prepare", lambda w: P(w, "--t-in", "0"), "t_in and t_out must be >= 1"),
    ("t_in_not_int", "prepare", lambda w: P(w, "--t-in", "abc"), "--t-in"),
    ("splits_sum", "prepare", lambda w: P(w, "--splits", "0.5,0.4,0.4"), "splits must be three positive shares"),
    ("splits_text", "prepare", lambda w: P(w, "--splits", "a,b,c"), "--splits"),
    ("years_typo", "prepare", lambda w: P(w, "--source", "histdata", "--histdata-download", "--years", "20x1"), "--years"),
    ("timeframe", "prepare", lambda w: P(w, "--timeframe", "7x"), "unknown timeframe '7x'"),
    ("pair_unknown", "prepare", lambda w: P(w, "--pairs", "abcxyz"), "unknown pair 'abcxyz'"),
    ("source_tz", "prepare", lambda w: P(w, "--source-tz", "Mars/Base"), "unknown source time zone 'Mars/Base'"),
    ("duplicates_value", "prepare", lambda w: P(w, "--duplicates", "maybe"), "argument --duplicates: invalid choice 'maybe' (choose from raise, first, last)"),
    ("unsorted_value", "prepare", lambda w: P(w, "--unsorted", "shuffle"), "argument --unsorted: invalid choice 'shuffle' (choose from raise, sort)"),
    ("on_bad_rows_value", "prepare", lambda w: P(w, "--on-bad-rows", "skip"), "argument --on-bad-rows: invalid choice 'skip' (choose from raise, drop)"),
    ("purge_short", "prepare", lambda w: P(w, "--purge", "3"), "purge=3 is shorter than t_in + t_out"),
    ("plugin_unregistered", "prepare", lambda w: P(w, "--plugins", "nosuch"), "--feature-plugins DIR"),
    # --- sfx-train: training and model settings, checked before any work
    ("epochs_zero", "train", lambda w: T(w, "--epochs", "0"), "--epochs"),
    ("epochs_negative", "train", lambda w: T(w, "--epochs", "-1"), "--epochs"),
    ("max_steps_negative", "train", lambda w: T(w, "--max-steps-per-epoch", "-1"), "--max-steps-per-epoch"),
    ("learning_rate_nan", "train", lambda w: T(w, "--learning-rate", "nan"), "--learning-rate"),
    ("batch_size_zero", "train", lambda w: T(w, "--batch-size", "0"), "--batch-size"),
    ("attn_heads_zero", "train", lambda w: T(w, "--attn-heads", "0"), "--attn-heads"),
    ("cnn_channels_zero", "train", lambda w: T(w, "--cnn-channels", "0,32"), "--cnn-channels"),
    ("cnn_channels_text", "train", lambda w: T(w, "--cnn-channels", "a,b"), "--cnn-channels"),
    # --- damaged datasets
    ("dataset_scaler_edited", "train", lambda w: TD(w, "ds_scaler"), "ds_scaler/meta.json: edited after sfx-prepare wrote it"),
    ("dataset_meta_truncated", "train", lambda w: TD(w, "ds_truncated"), "ds_truncated/meta.json: not valid JSON"),
    ("dataset_frame_swapped", "train", lambda w: TD(w, "ds_swapped"), "ds_swapped/frame.parquet: not the file sfx-prepare wrote"),
    ("dataset_t_in_changed", "train", lambda w: TD(w, "ds_t_in"), "ds_t_in/meta.json: edited after"),
    ("dataset_missing", "train", lambda w: TD(w, "nosuch"), "--dataset"),
    # --- resume
    ("resume_from_best_model", "train", lambda w: RES(w, str(w["rd"] / "best_model.pt")), "not a training checkpoint"),
    ("resume_changed_lr", "train", lambda w: RES(w, str(w["rd"] / "checkpoint_epoch_1"), "--learning-rate", "0.01"), "--resume-override learning_rate"),
    ("resume_changed_batch", "train", lambda w: RES(w, str(w["rd"] / "checkpoint_epoch_1"), "--batch-size", "32"), "--batch-size 64 -> 32"),
    ("resume_changed_seed", "train", lambda w: RES(w, str(w["rd"] / "checkpoint_epoch_1"), "--seed", "1"), "--seed 0 -> 1"),
    ("resume_override_unknown", "train", lambda w: RES(w, str(w["rd"] / "checkpoint_epoch_1"), "--resume-override", "speed"), "--resume-override: ['speed']"),
    ("resume_truncated", "train", lambda w: RES(w, str(w["inp"] / "ck_truncated")), "truncated or corrupt"),
    # --- sfx-evaluate
    ("threshold_above_one", "evaluate", lambda w: E(w, "--threshold", "2"), "--threshold is a probability in [0, 1]"),
    ("threshold_nan", "evaluate", lambda w: E(w, "--threshold", "nan"), "--threshold"),
    ("n_boot_negative", "evaluate", lambda w: E(w, "--n-boot", "-1"), "--n-boot must be >= 0"),
    ("sizing_unknown", "evaluate", lambda w: E(w, "--sizing", "huge"), "--sizing"),
    ("spread_negative", "evaluate", lambda w: E(w, "--spread-pips", "-1"), "spread_pips"),
    ("model_without_model_cfg", "evaluate", lambda w: ["--checkpoint-path", str(w["inp"] / "no_model_cfg.pt"), "--data-dir", str(w["data"]),
                                                       "--report-dir", str(w["root"] / "reports")], "no_model_cfg.pt: model checkpoint lacks ['model_cfg']"),
    ("evaluate_training_state", "evaluate", lambda w: ["--checkpoint-path", str(w["rd"] / "checkpoint_epoch_1" / "training_state.pt"),
                                                       "--data-dir", str(w["data"])], "is a training checkpoint"),
    # --- sfx-gdelt-download
    ("gdelt_workers", "gdelt", lambda w: ["--start", "2020-01-01", "--end", "2020-01-02", "--workers", "0", "--gdelt-dir", str(w["root"] / "g")], "--workers"),
    ("gdelt_start", "gdelt", lambda w: ["--start", "yesterday-ish", "--end", "2020-01-02", "--gdelt-dir", str(w["root"] / "g")], "--start/--end"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(world, case, capsys, monkeypatch):
    cid, cmd, argv, expect = case
    if cid == "hd_zip_member_cap": monkeypatch.setattr(sfx_data, "ZIP_MEMBER_LIMIT", 1000)
    monkeypatch.delenv("SFX_DEBUG", raising=False)
    before = tree(world["root"])
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        _cli(cmd)(argv(world))
    err = capsys.readouterr().err
    assert e.value.code not in (0, None), f"{cid}: exit {e.value.code}; stderr: {err}"
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert len(lines) == 1, f"{cid}: expected one line on stderr, got:\n{err}"
    assert expect in lines[0], f"{cid}: {expect!r} not in {lines[0]!r}"
    assert "Traceback" not in err
    assert tree(world["root"]) == before, f"{cid}: files changed on disk"


def test_catalogue_size():
    assert len(CASES) >= 40


def test_disk_full_during_checkpoint_save(tmp_path):
    "A write that fails (here: a file-size limit, as a full disk would) names the checkpoint and keeps the old file."
    import resource
    from sequence_fx.training import CheckpointError, save_state
    p = tmp_path / "ck.pt"
    save_state({"w": torch.zeros(4)}, p)
    before = p.read_bytes()
    old_sig, old_lim = signal.signal(signal.SIGXFSZ, signal.SIG_IGN), resource.getrlimit(resource.RLIMIT_FSIZE)
    try:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, old_lim[1]))
        with pytest.raises(CheckpointError, match=r"cannot write checkpoint .*ck\.pt: .*previous file, if any, is unchanged") as e:
            save_state({"w": torch.zeros(1 << 16)}, p)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_lim); signal.signal(signal.SIGXFSZ, old_sig)
    assert "inline_container" not in str(e.value) and len(str(e.value).splitlines()) == 1
    assert p.read_bytes() == before and sorted(x.name for x in tmp_path.iterdir()) == ["ck.pt"]


def test_outputs_respect_umask_and_metrics_are_strict_json(world, tmp_path):
    "Files and directories get the umask's permissions (no forced 0600/0700); metrics.jsonl has no NaN."
    from sequence_fx.data import atomic_dir, atomic_write_text
    from sequence_fx.training import _json_safe
    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "f.txt", "x")
        with atomic_dir(tmp_path / "d") as t: (t / "a").write_text("1")
    finally: os.umask(old)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o750
    ds_mode = world["ds"].stat().st_mode & 0o777
    assert ds_mode == 0o777 & ~old, oct(ds_mode)
    assert (world["ds"] / "meta.json").stat().st_mode & 0o777 == 0o666 & ~old
    def no_nan(s): raise ValueError(f"non-standard JSON constant {s}")
    for line in (world["rd"] / "metrics.jsonl").read_text().splitlines(): json.loads(line, parse_constant=no_nan)
    assert json.dumps(_json_safe({"bacc": float("nan"), "x": [float("inf"), 1.0]}), allow_nan=False) == '{"bacc": null, "x": [null, 1.0]}'


def test_resume_override_is_recorded(world, tmp_path):
    "An explicitly allowed change resumes, and config.json records the old and the new value."
    from sequence_fx.training import train_cli
    rd = tmp_path / "r"
    shutil.copytree(world["rd"], rd / "eurusd")
    train_cli(["--data-dir", str(world["data"]), "--run-dir", str(rd), *SMALL, *MODEL, "--epochs", "2", "--max-steps-per-epoch", "2",
               "--patience", "0", "--learning-rate", "0.002", "--resume-override", "learning_rate",
               "--resume-from-checkpoint", str(rd / "eurusd" / "checkpoint_epoch_1")])
    cfg = json.loads((rd / "eurusd" / "config.json").read_text())
    assert cfg["train_cfg"]["learning_rate"] == 0.002
    assert cfg["resumed"]["changed"]["learning_rate"] == [0.001, 0.002] and cfg["resumed"]["epoch"] == 1
