"""Prepare throughput on a synthetic M1 series, and the memory of the windowed dataset vs the feature matrix.

    python bench/bench_prepare.py              # 5,000,000 M1 rows (about a minute or two on 2 cores)
    python bench/bench_prepare.py --rows 500000

Stages timed: HistData parse + clean + UTC conversion (read_histdata on a file in HistData's layout), and
prepare_dataset (features, forward labels, purged split, train-only scaler, scaled float32 matrix).
"""
import argparse, gc, os, resource, tempfile, time, tracemalloc
from pathlib import Path

import numpy as np

from sequence_fx.data import read_histdata
from sequence_fx.dataset import DataConfig, prepare_dataset
from sequence_fx.features import random_bars

def rss_mb(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def main(rows:int, t_in:int):
    bars = random_bars(rows, seed=0, start="2015-01-05", freq="1min", vol=2e-4)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "DAT_ASCII_EURUSD_M1_2015.csv"
        local = bars.copy(); local.index = (local.index - np.timedelta64(5, "h")).tz_localize(None)   # fixed UTC-5, as HistData
        local.to_csv(p, sep=";", header=False, date_format="%Y%m%d %H%M%S", float_format="%.6f")
        mb = p.stat().st_size / 1e6
        t0 = time.perf_counter(); loaded = read_histdata(p); t_load = time.perf_counter() - t0
    assert len(loaded) == rows and loaded.index[0] == bars.index[0]
    del bars; gc.collect()
    cfg = DataConfig(t_in=t_in, t_out=10, timeframe="1m")
    t0 = time.perf_counter(); ds = prepare_dataset(loaded, cfg); X = ds.X; t_prep = time.perf_counter() - t0
    # memory of the windowed dataset beyond the feature matrix it shares
    tracemalloc.start()
    wd = ds.window_dataset("train")
    acc = 0.0
    for i in range(0, len(wd), max(1, len(wd) // 20000)): acc += float(wd[i][0][0, 0])
    extra = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
    copied = len(wd) * t_in * ds.n_features * 4
    print(f"rows: {rows:,}  file: {mb:.0f} MB  features: {ds.n_features}  t_in: {t_in}")
    print(f"read_histdata (parse+clean+UTC): {t_load:.2f} s  -> {rows / t_load / 1e6:.2f} M rows/s")
    print(f"prepare_dataset (features+labels+split+scaler+X): {t_prep:.2f} s  -> {rows / t_prep / 1e6:.2f} M rows/s")
    print(f"end to end: {rows / (t_load + t_prep) / 1e6:.2f} M rows/s")
    print(f"feature matrix X: {X.nbytes / 1e6:.0f} MB; train windows: {len(wd):,}")
    print(f"windowed dataset peak extra allocation (build + 20k reads): {extra / 1e6:.2f} MB "
          f"(= {extra / X.nbytes:.4f} x X); materialised windows would take {copied / 1e9:.1f} GB (= {copied / X.nbytes:.0f} x X)")
    print(f"process peak RSS: {rss_mb():.0f} MB")

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--t-in", type=int, default=120)
    a = ap.parse_args()
    main(a.rows, a.t_in)
