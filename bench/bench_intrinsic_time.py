"""Throughput of DC event detection: the compiled (numba) loop vs the plain-Python reference.

    .venv/bin/python bench/bench_intrinsic_time.py            # 10M-price random walk; reference on a 1M subset
    .venv/bin/python bench/bench_intrinsic_time.py --quick    # 1M prices; reference on 200k
    .venv/bin/python bench/bench_intrinsic_time.py --reference-n 0   # reference on the full series (slow)

Figures printed: prices/s and events/s for the bare event loop and for the full `dc_events` call (input checks and
the typed event table included), for numba and the reference; the reference runs on a prefix of the series when it
would be too slow, and its full-series figures are extrapolated linearly (the loop is O(n)). Single thread: numba
code here is not parallel.
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000_000, help="prices in the random walk")
    ap.add_argument("--reference-n", type=int, default=1_000_000, help="prices given to the reference (0: all)")
    ap.add_argument("--theta", type=float, default=0.0005, help="symmetric DC threshold")
    ap.add_argument("--sigma", type=float, default=1e-4, help="std of the per-price log step")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="1M prices, reference on 200k")
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

    _dc_core_numba(p[:1000], th, th, False)  # compile outside the timing
    t_fast, (d, e, c) = best_of(lambda: _dc_core_numba(p, th, th, False), a.repeat)
    n_ev = len(c)
    t_full, ev = best_of(lambda: dc_events(p, t, th), a.repeat)
    assert len(ev) == n_ev

    t_ref, (dr, er, cr) = best_of(lambda: _dc_core_python(p[:ref_n], th, th, False), 1)
    n_ev_ref = len(cr)
    k = np.searchsorted(c, ref_n)  # the reference saw the first ref_n prices: same events as the fast loop there
    same = np.array_equal(cr, c[:k]) and np.array_equal(er, e[:k]) and np.array_equal(dr, d[:k])
    t_ref_all = t_ref * a.n / ref_n

    tb = pd.DataFrame({"open": p, "high": p, "low": p, "close": p, "volume": 0.0}, index=t.rename("time"))
    dc_bars(tb.iloc[:1000], th); dc_features(tb.iloc[:1000], thetas=(th,), windows=("1h",))  # compile outside the timing
    t_bars, bars = best_of(lambda: dc_bars(tb, th), 1)
    t_feat, feats = best_of(lambda: dc_features(tb, thetas=(th, 2 * th, 4 * th), windows=("1h",)), 1)

    r = {"n_prices": a.n, "theta": th, "n_events": n_ev,
         "numba_loop_s": t_fast, "numba_loop_prices_per_s": a.n / t_fast, "numba_loop_events_per_s": n_ev / t_fast,
         "dc_events_numba_s": t_full, "dc_events_numba_prices_per_s": a.n / t_full,
         "reference_n_prices": ref_n, "reference_loop_s": t_ref, "reference_prices_per_s": ref_n / t_ref,
         "reference_events_per_s": n_ev_ref / t_ref, "reference_extrapolated_s": t_ref_all,
         "speedup_loop": (ref_n / t_ref) and (a.n / t_fast) / (ref_n / t_ref), "reference_agrees": bool(same),
         "dc_bars_s": t_bars, "dc_bars_rows": len(bars), "dc_features_3_thetas_s": t_feat}
    extrap = "" if ref_n == a.n else f" (run on the first {ref_n:,} prices; {a.n:,} extrapolated linearly: {t_ref_all:.1f} s)"
    print(f"events: {n_ev:,} ({a.n / max(n_ev, 1):.0f} prices per event)")
    print(f"numba loop      : {t_fast:8.3f} s  {a.n / t_fast / 1e6:8.1f} M prices/s  {n_ev / t_fast / 1e6:7.2f} M events/s")
    print(f"numba dc_events : {t_full:8.3f} s  {a.n / t_full / 1e6:8.1f} M prices/s  (checks + typed event table)")
    print(f"python reference: {t_ref:8.3f} s  {ref_n / t_ref / 1e6:8.2f} M prices/s  {n_ev_ref / t_ref / 1e6:7.3f} M events/s{extrap}")
    print(f"speed-up (loop) : {r['speedup_loop']:.0f}x   reference agrees with numba on its prefix: {same}")
    print(f"dc_bars         : {t_bars:8.3f} s for {a.n:,} rows -> {len(bars):,} bars")
    print(f"dc_features     : {t_feat:8.3f} s for {a.n:,} rows x 3 thresholds")
    if a.json:
        with open(a.json, "w") as f: json.dump(r, f, indent=1)
    return r


if __name__ == "__main__":
    main()
