"""`prepare()` as users call it (parse, features, labels, split, scaler, save, summary.html) beside its compute-only part.

    python bench/bench_prepare.py                  # 500,000 and 5,000,000 M1 rows (the 10x scaling row; ~3-5 min on 2 cores)
    python bench/bench_prepare.py --rows 200000    # 20,000 and 200,000 rows

Input: a synthetic M1 series written in HistData's ASCII layout (`YYYYMMDD HHMMSS;o;h;l;c;v`, fixed UTC-5), prices
with 6 decimals, like the real files. Each measurement runs in a fresh process (so its peak RSS is its own):

* floor   - a typed pyarrow read of the same file into the identical UTC frame (the parse floor for read_histdata);
* compute - read_histdata + prepare_dataset (features, forward labels, purged split, train-only scaler):
            what prepare() must compute in a fresh process (read_histdata is timed twice: the first call also loads the
            cached compiled parser, as prepare() must, and counts in "compute"; the second is the parse itself, compared
            with the floor); then, in the same process, the two I/O steps prepare() adds: PreparedDataset.save
            (Parquet + meta) and the summary.html page, timed separately;
* prepare - prepare(pair, DataConfig(timeframe='1m'), source='histdata', input=file, data_dir=tmp), end to end,
            cache miss: hashing the input, everything above, atomic writes.

Printed per size: wall times, M rows/s, peak RSS as a multiple of the CSV's size, the ratios read_histdata / floor
and prepare / compute, and (last) how each figure grew from 1x to 10x the rows (10 = linear).
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np


def write_histdata_file(path:Path, rows:int, seed:int=0):
    "A random-walk M1 series in HistData's layout, written fast with pyarrow (6-decimal prices, volume 0)."
    import pandas as pd, pyarrow as pa, pyarrow.compute as pc, pyarrow.csv as pcsv
    from sequence_fx.features import random_bars
    bars = random_bars(rows, seed=seed, start="2015-01-05", freq="1min", vol=2e-4)
    local = (bars.index - pd.Timedelta(hours=5)).tz_localize(None)               # HistData: fixed UTC-5
    cols = {"time": pc.strftime(pa.array(local.as_unit("s")), format="%Y%m%d %H%M%S")}
    cols.update({c: pa.array(np.round(bars[c].to_numpy(), 6)) for c in ("open", "high", "low", "close")})
    cols["volume"] = pa.array(np.zeros(rows, np.int64))
    pcsv.write_csv(pa.table(cols), path, pcsv.WriteOptions(include_header=False, delimiter=";", quoting_style="none"))


def rss_gb(field:str="VmHWM") -> float:
    """This process's peak (VmHWM) or current (VmRSS) resident memory, GB. Not ru_maxrss: that survives exec, so a child would
    report its parent's size at fork when that was larger."""
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"): return int(line.split()[1]) / 1024**2
    raise RuntimeError(f"{field} not in /proc/self/status")

def stage(name:str, file:str, out_dir:str) -> dict:
    "Run one measurement in this (fresh) process; returns timings and peak RSS."
    r = {}
    if name == "floor":
        import pandas as pd, pyarrow as pa, pyarrow.csv as pcsv
        from sequence_fx.data import OHLCV
        t0 = time.perf_counter()
        t = pcsv.read_csv(file, read_options=pcsv.ReadOptions(column_names=["time", *OHLCV]),
                          parse_options=pcsv.ParseOptions(delimiter=";"),
                          convert_options=pcsv.ConvertOptions(column_types={"time": pa.timestamp("s"), **{c: pa.float64() for c in OHLCV}},
                                                              timestamp_parsers=["%Y%m%d %H%M%S"]))
        idx = pd.DatetimeIndex(t.column("time").to_numpy().astype("M8[us]") + np.timedelta64(5, "h"), name="time").tz_localize("UTC")
        bars = pd.DataFrame({c: t.column(c).to_numpy() for c in OHLCV}, index=idx)
        r["floor_s"] = time.perf_counter() - t0
        r["floor_peak_gb"] = rss_gb()
        from sequence_fx.data import read_histdata
        ours = read_histdata(file)                                                   # the floor yields the same frame
        pd.testing.assert_frame_equal(ours, bars, check_freq=False)
    elif name == "compute":
        from sequence_fx.data import read_histdata
        from sequence_fx.dataset import DataConfig, prepare_dataset, plot_split_timeline
        from sequence_fx.data import atomic_write_text
        t0 = time.perf_counter(); bars = read_histdata(file); r["read_histdata_cold_s"] = time.perf_counter() - t0
        del bars                               # first call in a process: includes importing numba and loading its cached kernel
        t0 = time.perf_counter(); bars = read_histdata(file); r["read_histdata_s"] = time.perf_counter() - t0
        t0 = time.perf_counter(); ds = prepare_dataset(bars, DataConfig(pair="eurusd", timeframe="1m"))
        r["prepare_dataset_s"] = time.perf_counter() - t0
        # what a fresh prepare() call computes: the first read (it loads the compiled parser, as prepare() must) + prepare_dataset
        # (whose first call loads the feature kernels, here as in prepare())
        r["compute_s"] = r["read_histdata_cold_s"] + r["prepare_dataset_s"]
        r["compute_peak_gb"] = rss_gb()
        t0 = time.perf_counter(); ds.save(Path(out_dir) / "saved"); r["save_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        atomic_write_text(Path(out_dir) / "summary.html", plot_split_timeline(ds).to_html(include_plotlyjs=True, full_html=True))
        r["summary_s"] = time.perf_counter() - t0
        r["summary_mb"] = (Path(out_dir) / "summary.html").stat().st_size / 1e6
        t0 = time.perf_counter(); ds.X; r["X_s"] = time.perf_counter() - t0      # what training adds (prepare() does not)
        r["X_peak_gb"] = rss_gb()
    elif name == "prepare":
        from sequence_fx.dataset import DataConfig
        from sequence_fx.prepare import prepare
        r["imports_gb"] = rss_gb("VmRSS")                                          # what importing the library costs
        t0 = time.perf_counter()
        ds = prepare("eurusd", DataConfig(timeframe="1m"), source="histdata", input=[file], data_dir=out_dir, force=True)
        r["prepare_s"] = time.perf_counter() - t0
        r["rows"] = len(ds.frame)
        r["out_mb"] = sum(p.stat().st_size for p in Path(out_dir).rglob("*") if p.is_file()) / 1e6
    r.setdefault(f"{name}_peak_gb", rss_gb())
    import sequence_fx; r["package"] = str(Path(sequence_fx.__file__).parent)
    return r

def run_stage(name:str, file:Path, out_dir:Path, package:Path|None=None) -> dict:
    "One stage in a fresh process; `package`: a folder holding another version of sequence_fx/ to import instead."
    env = {**os.environ, "SFX_LOG_LEVEL": "WARNING", **({"PYTHONPATH": str(package)} if package else {})}
    p = subprocess.run([sys.executable, __file__, "--stage", name, "--file", str(file), "--out", str(out_dir)],
                       capture_output=True, text=True, env=env)
    if p.returncode: raise SystemExit(f"stage {name} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=5_000_000, help="rows of the large file; the 1x row uses a tenth")
    ap.add_argument("--before", default=None, help="also run prepare() as of this git revision, in the same run (before/after)")
    ap.add_argument("--stage", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--file", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.stage:
        print(json.dumps(stage(a.stage, a.file, a.out))); return
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; each figure from a fresh process")
    res = {}
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        old = None
        if a.before:                                          # the package as of that revision, imported by the "before" runs
            old = d / "before"; old.mkdir()
            repo = Path(__file__).resolve().parent.parent
            arc = subprocess.run(["git", "-C", str(repo), "archive", a.before, "sequence_fx"], capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(old)], input=arc, check=True)
        for rows in (a.rows // 10, a.rows):
            f = d / f"DAT_ASCII_EURUSD_M1_{rows}.csv"
            t0 = time.perf_counter(); write_histdata_file(f, rows); tw = time.perf_counter() - t0
            mb = f.stat().st_size / 1e6
            r = {"rows": rows, "csv_mb": mb}
            for name in ("floor", "compute", "prepare"):
                r.update(run_stage(name, f, d / f"out_{name}_{rows}"))
            if old:
                b = run_stage("prepare", f, d / f"out_before_{rows}", old)
                assert b["package"].startswith(str(old)), b["package"]
                r.update({f"before_{k}": v for k, v in b.items()})
            res[rows] = r
            gb = mb / 1e3
            print(f"\n{rows:,} M1 rows, {mb:.0f} MB CSV (written in {tw:.1f} s)")
            print(f"  typed pyarrow read (floor)        {r['floor_s']:7.2f} s   {rows / r['floor_s'] / 1e6:5.2f} M rows/s   peak {r['floor_peak_gb']:.2f} GB")
            print(f"  read_histdata                     {r['read_histdata_s']:7.2f} s   {rows / r['read_histdata_s'] / 1e6:5.2f} M rows/s   "
                  f"= {r['read_histdata_s'] / r['floor_s']:.2f}x the floor (first call in the process: {r['read_histdata_cold_s']:.2f} s "
                  f"= {r['read_histdata_cold_s'] / r['floor_s']:.2f}x, numba import and cached-kernel load included)")
            print(f"  prepare_dataset (features, labels){r['prepare_dataset_s']:7.2f} s")
            print(f"  compute only (first read + prep.) {r['compute_s']:7.2f} s   {rows / r['compute_s'] / 1e6:5.2f} M rows/s   "
                  f"peak {r['compute_peak_gb']:.2f} GB = {r['compute_peak_gb'] / gb:.1f}x the CSV")
            print(f"  + save (Parquet, meta)            {r['save_s']:7.2f} s")
            print(f"  + summary.html                    {r['summary_s']:7.2f} s   ({r['summary_mb']:.1f} MB)")
            print(f"  (training adds ds.X, scaled float32: {r['X_s']:.2f} s, peak then {r['X_peak_gb']:.2f} GB)")
            print(f"  prepare() end to end              {r['prepare_s']:7.2f} s   {rows / r['prepare_s'] / 1e6:5.2f} M rows/s   "
                  f"peak {r['prepare_peak_gb']:.2f} GB = {r['prepare_peak_gb'] / gb:.1f}x the CSV   = {r['prepare_s'] / r['compute_s']:.2f}x compute only")
            print(f"    of which importing sequence_fx.prepare: {r['imports_gb']:.2f} GB; the rest = {(r['prepare_peak_gb'] - r['imports_gb']) / gb:.1f}x the CSV")
            if old:
                print(f"  prepare() as of {a.before:>10}       {r['before_prepare_s']:7.2f} s   peak {r['before_prepare_peak_gb']:.2f} GB = "
                      f"{r['before_prepare_peak_gb'] / gb:.1f}x the CSV (imports {r['before_imports_gb']:.2f} GB)   now / before: time "
                      f"{r['prepare_s'] / r['before_prepare_s']:.2f}x, peak {r['prepare_peak_gb'] / r['before_prepare_peak_gb']:.2f}x")
    small, large = res[a.rows // 10], res[a.rows]
    print(f"\nscaling 1x -> 10x rows (10 = linear): floor {large['floor_s'] / small['floor_s']:.1f}, read_histdata "
          f"{large['read_histdata_s'] / small['read_histdata_s']:.1f}, compute {large['compute_s'] / small['compute_s']:.1f}, "
          f"prepare() {large['prepare_s'] / small['prepare_s']:.1f}, summary.html size {large['summary_mb'] / small['summary_mb']:.2f}, "
          f"peak RSS {large['prepare_peak_gb'] / small['prepare_peak_gb']:.1f}")


if __name__ == "__main__":
    main()
