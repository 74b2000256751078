"""Throughput of DC event detection and DC features: the compiled (numba) loop as the floor, the full calls beside it.

    .venv/bin/python bench/bench_intrinsic_time.py            # random walks of 1M and 10M prices; reference on a 1M subset
    .venv/bin/python bench/bench_intrinsic_time.py --quick    # 100k and 1M prices; reference on 200k
    .venv/bin/python bench/bench_intrinsic_time.py --reference-n 0   # reference on the full series (slow)

Figures printed, for 1x and 10x the prices (so super-linear growth shows): the bare event loop (the floor: nothing
is faster than running it), the full `dc_events` call (input checks and the typed event table included) and its
ratio to the floor, `dc_bars`, and `dc_features` for 3 thresholds and its ratio to 3 bare loops; then the growth of
each from 1x to 10x (10 = linear). The plain-Python reference runs on a prefix when it would be too slow (its
full-series time is extrapolated linearly; the loop is O(n)) and must agree with numba there. Single thread.
"""
import argparse, json, os, platform, time

import numpy as np
import pandas as pd

from sequence_fx.intrinsic_time import _dc_core_numba, _dc_core_python, dc_bars, dc_events, dc_features


def best_of(fn, repeat):
    "Smallest wall time of `repeat` calls (the least disturbed by other load on the machine) and the last result."
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter(); out = fn(); best = min(best, time.perf_counter() - t0)
    return best, out


def measure(p, t, th, repeat):
    "Timings for one series: bare loop, dc_events, dc_bars, dc_features (3 thresholds)."
    t_fast, (d, e, c) = best_of(lambda: _dc_core_numba(p, th, th, False), repeat)
    t_full, ev = best_of(lambda: dc_events(p, t, th), repeat)
    assert len(ev) == len(c)
    tb = pd.DataFrame({"open": p, "high": p, "low": p, "close": p, "volume": 0.0}, index=t.rename("time"))
    t_bars, bars = best_of(lambda: dc_bars(tb, th), repeat)
    t_loops3, _ = best_of(lambda: [_dc_core_numba(p, k * th, k * th, False) for k in (1, 2, 4)], repeat)
    t_feat, feats = best_of(lambda: dc_features(tb, thetas=(th, 2 * th, 4 * th), windows=("1h",)), repeat)
    return {"n_prices": len(p), "n_events": len(c), "loop_s": t_fast, "dc_events_s": t_full, "dc_bars_s": t_bars,
            "dc_bars_rows": len(bars), "loops3_s": t_loops3, "dc_features_3_thetas_s": t_feat}, (d, e, c)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000_000, help="prices in the larger random walk (the 1x row uses a tenth)")
    ap.add_argument("--reference-n", type=int, default=1_000_000, help="prices given to the reference (0: all)")
    ap.add_argument("--theta", type=float, default=0.0005, help="symmetric DC threshold")
    ap.add_argument("--sigma", type=float, default=1e-4, help="std of the per-price log step")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="100k and 1M prices, reference on 200k")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    a = ap.parse_args(argv)
    if a.quick: a.n, a.reference_n = 1_000_000, 200_000
    ref_n = a.n if a.reference_n <= 0 else min(a.reference_n, a.n)

    rng = np.random.default_rng(0)
    p = 1.1 * np.exp(np.cumsum(rng.normal(0, a.sigma, a.n)))
    t = pd.date_range("2020-01-01", periods=a.n, freq="100ms", tz="UTC")
    th = a.theta
    print(f"random walk: {a.n:,} prices, log-step std {a.sigma:g}, theta {th:g}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} logical CPUs, load average {os.getloadavg()[0]:.1f}")

    tb0 = pd.DataFrame({"close": p[:1000]}, index=t[:1000].rename("time")).assign(open=p[:1000], high=p[:1000], low=p[:1000], volume=0.0)
    _dc_core_numba(p[:1000], th, th, False); dc_events(p[:1000], t[:1000], th)   # compile / load kernels outside the timing
    dc_bars(tb0, th); dc_features(tb0, thetas=(th,), windows=("1h",))
    rows = {}
    for n in (a.n // 10, a.n):
        r, (d, e, c) = measure(p[:n], t[:n], th, a.repeat)
        rows[n] = r
        print(f"\n{n:,} prices -> {r['n_events']:,} events ({n / max(r['n_events'], 1):.0f} prices per event)")
        print(f"  numba loop (floor) : {r['loop_s']:8.3f} s  {n / r['loop_s'] / 1e6:8.1f} M prices/s")
        print(f"  dc_events          : {r['dc_events_s']:8.3f} s  {n / r['dc_events_s'] / 1e6:8.1f} M prices/s  = {r['dc_events_s'] / r['loop_s']:.1f}x the loop "
              "(input checks + typed event table)")
        print(f"  dc_bars            : {r['dc_bars_s']:8.3f} s  -> {r['dc_bars_rows']:,} bars")
        print(f"  dc_features, 3 θ   : {r['dc_features_3_thetas_s']:8.3f} s  = {r['dc_features_3_thetas_s'] / r['loops3_s']:.1f}x three bare loops "
              f"({r['loops3_s']:.3f} s)")
    small, large = rows[a.n // 10], rows[a.n]
    print("\nscaling 1x -> 10x prices (10 = linear): " + ", ".join(
        f"{k.removesuffix('_s')} {large[k] / small[k]:.1f}" for k in ("loop_s", "dc_events_s", "dc_bars_s", "dc_features_3_thetas_s")))

    d, e, c = _dc_core_numba(p, th, th, False)
    t_ref, (dr, er, cr) = best_of(lambda: _dc_core_python(p[:ref_n], th, th, False), 1)
    k = np.searchsorted(c, ref_n)  # the reference saw the first ref_n prices: same events as the fast loop there
    same = np.array_equal(cr, c[:k]) and np.array_equal(er, e[:k]) and np.array_equal(dr, d[:k])
    t_ref_all = t_ref * a.n / ref_n
    extrap = "" if ref_n == a.n else f" (run on the first {ref_n:,} prices; {a.n:,} extrapolated linearly: {t_ref_all:.1f} s)"
    print(f"python reference: {t_ref:8.3f} s  {ref_n / t_ref / 1e6:8.2f} M prices/s{extrap}")
    print(f"speed-up (loop) : {(a.n / large['loop_s']) / (ref_n / t_ref):.0f}x   reference agrees with numba on its prefix: {same}")
    r = {"theta": th, "rows": rows, "reference_n_prices": ref_n, "reference_loop_s": t_ref, "reference_extrapolated_s": t_ref_all,
         "reference_agrees": bool(same)}
    if a.json:
        with open(a.json, "w") as f: json.dump(r, f, indent=1, default=str)
    return r


if __name__ == "__main__":
    main()
