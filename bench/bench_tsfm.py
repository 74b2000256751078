"""TimesFM forecast throughput on CPU (or CUDA): tiny test models and the full-size 2.5 / 3 architectures with random
weights (speed does not need trained weights), batch-size scaling, a 10x scaling row, and the cache-read floor.

    python bench/bench_tsfm.py              # tiny + full-size models, context 512, horizon 10 (~10 min on 2 busy cores: full-size models run at ~1 forecast/s there)
    python bench/bench_tsfm.py --quick      # tiny models, fewer batch sizes (~1 min)
    python bench/bench_tsfm.py --device cuda --sizes full

Data: real EURUSD H1 closes (the shipped sample); decision rows from bar 600 on, so every context has the full
`--context-len` bars. Every model is saved with `save_random_timesfm` and loaded back with `load_timesfm` (the real
loading path; load time reported). Per model and batch size:
  * `compute` — `TimesFMForecaster.forecast` on ready contexts: the model alone (flip invariance on, the default,
    which runs every series twice);
  * `end_to_end` — `forecast_log_returns` without a cache: what `timesfm_forecasts` / `sfx-ensemble` pay per forecast
    (context views, hashing, equal-length batching, the model, conversion to log returns);
  * `10x` — the same end-to-end call on ten times the rows (time ratio ~10 means linear scaling);
  * `cache floor` — the same rows again from a warm disk cache: the floor a re-run pays.
"""
import argparse, os, tempfile, time
from pathlib import Path

import numpy as np
import torch

from sequence_fx.data import load_sample, resolve_device
from sequence_fx.tsfm import save_random_timesfm, load_timesfm, forecast_log_returns, decision_contexts


def timed(fn):
    t0 = time.perf_counter(); out = fn(); return time.perf_counter() - t0, out


def bench_model(version, size, work, close, a, device):
    t_save, path = timed(lambda: save_random_timesfm(work / f"{version}-{size}", version, size))
    t_load, fc = timed(lambda: load_timesfm(version, path, device, batch_size=a.batch_sizes[0]))
    mb = sum(f.stat().st_size for f in path.iterdir()) / 2 ** 20
    n = a.n_tiny if size == "tiny" else a.n_full
    ends = np.arange(600, 600 + 10 * n)
    ctx = decision_contexts(close, ends[:n], a.context_len)
    fc.forecast(ctx[:2], a.horizon)                                              # warm-up (allocations, first-call paths)
    print(f"\nTimesFM {version} {size}: {fc.n_params:,} parameters, {mb:,.1f} MiB on disk; save {t_save:.1f} s, load {t_load:.2f} s; "
          f"{n} forecasts per row, context {a.context_len}, horizon {a.horizon}")
    print(f"  {'batch':>5} {'compute f/s':>12} {'end_to_end f/s':>15} {'e2e/compute':>12}")
    rows = []
    for bs in a.batch_sizes:
        if bs > n: continue
        fc.batch_size = bs
        t_c, _ = timed(lambda: fc.forecast(ctx, a.horizon))
        t_e, _ = timed(lambda: forecast_log_returns(fc, close, ends[:n], a.horizon, a.context_len, None, progress=False))
        rows.append((bs, n / t_c, n / t_e))
        print(f"  {bs:>5} {n / t_c:>12,.1f} {n / t_e:>15,.1f} {t_e / t_c:>12.2f}")
    bs = max(r[0] for r in rows)
    fc.batch_size = bs
    t1, _ = timed(lambda: forecast_log_returns(fc, close, ends[:n], a.horizon, a.context_len, None, progress=False))
    t10, _ = timed(lambda: forecast_log_returns(fc, close, ends, a.horizon, a.context_len, None, progress=False))
    print(f"  10x rows at batch {bs}: {n} -> {t1:.2f} s, {10 * n} -> {t10:.2f} s (ratio {t10 / t1:.1f}; {10 * n / t10:,.1f} f/s)")
    cache = work / f"cache-{version}-{size}"
    forecast_log_returns(fc, close, ends[:n], a.horizon, a.context_len, cache, progress=False)
    calls = fc.n_calls
    t_hit, _ = timed(lambda: forecast_log_returns(fc, close, ends[:n], a.horizon, a.context_len, cache, progress=False))
    assert fc.n_calls == calls
    print(f"  cache floor: {n} forecasts read back in {t_hit * 1e3:.1f} ms ({n / t_hit:,.0f} f/s, "
          f"{(t1 / t_hit):,.0f}x faster than computing them)")
    del fc
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny models only, batch sizes 1, 16, 64")
    ap.add_argument("--sizes", default=None, help="comma-separated: tiny,full (default: both; tiny with --quick)")
    ap.add_argument("--versions", default="2.5,3", help="comma-separated TimesFM versions")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    ap.add_argument("--context-len", type=int, default=512)
    ap.add_argument("--horizon", type=int, default=10)
    ap.add_argument("--n-tiny", type=int, default=128, help="forecasts per row for the tiny models (x10 in the scaling row)")
    ap.add_argument("--n-full", type=int, default=8, help="forecasts per row for the full-size models (x10 in the scaling row)")
    ap.add_argument("--batch-sizes", default=None, help="comma-separated (default 1,8,32,64; --quick 1,16,64)")
    a = ap.parse_args()
    a.batch_sizes = [int(b) for b in (a.batch_sizes or ("1,16,64" if a.quick else "1,8,32,64")).split(",")]
    sizes = (a.sizes or ("tiny" if a.quick else "tiny,full")).split(",")
    device = resolve_device(a.device)
    close = load_sample()["close"].to_numpy(float)
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs visible, "
          f"load average {os.getloadavg()[0]:.1f}; EURUSD H1 closes, decision rows from bar 600")
    with tempfile.TemporaryDirectory() as d:
        for size in sizes:
            for version in a.versions.split(","):
                bench_model(version, size, Path(d), close, a, device)


if __name__ == "__main__":
    main()
