"""Vectorised engine vs backtesting.py on the same signal: the default call (trade ledger and Sharpe interval included).

    python bench/bench_backtest.py                 # 10,000 and 100,000 hourly bars (the 10x scaling row; ~2-3 min)
    python bench/bench_backtest.py --bars 20000    # 2,000 and 20,000 bars
    python bench/bench_backtest.py --quick         # 1,000 and 10,000 bars

Input: the real EURUSD sample's bar-to-bar moves replayed end to end (prices stay realistic), and a signal that changes
on ~1 bar in 20, like a model's argmax with some persistence; then the same with confidence sizing (partial resizes
split trades, so the ledger takes its FIFO loop). Both engines get the same bars, positions, ExecutionConfig and
bootstrap settings, and must agree (final equity, every trade).

Also the Sharpe interval alone, as it was before issue 11 (`sharpe_ci_before`, kept here) and now, interleaved on
the default call's returns and block length (same draws, same interval). Printed per size: the default call `backtest_vectorized(bars, position, cfg)` (equity, costs, FIFO ledger, stats and
the block-bootstrap Sharpe interval) beside `backtest_backtesting_py(bars, position, cfg)` (backtesting.py, plus the
same interval on its equity) and their ratio; the parts of our call (core, + ledger, + interval); and, last, how each
figure grew from 1x to 10x the bars (10 = linear; more means something super-linear). Best of k runs (shared machine).
"""
import argparse, os, time
os.environ.setdefault("TQDM_DISABLE", "1")   # backtesting.py draws a progress bar per run
import numpy as np, pandas as pd
from sequence_fx.data import load_sample
from sequence_fx.backtest import ExecutionConfig, backtest_vectorized, backtest_backtesting_py, compare_engines, sharpe_ci, block_length

def sharpe_ci_before(r, ppy, n_boot=1000, block=None, seed=0, level=0.95):
    "sharpe_ci as it was before issue 11's rewrite (same draws; gathers of [n_boot, blocks] at once, uncentred sums): the 'before' row."
    from sequence_fx.backtest import bootstrap_ci
    r = np.asarray(r, float); n = len(r)
    block = max(1, min(n, int(block or round(n ** (1 / 3)))))
    rr = np.r_[r, r[:block - 1]]
    c1, c2 = np.r_[0, np.cumsum(rr)], np.r_[0, np.cumsum(rr * rr)]
    s1, s2 = c1[block:block + n] - c1[:n], c2[block:block + n] - c2[:n]
    nb = -(-n // block); m = nb * block
    starts = np.random.default_rng(seed).integers(0, n, size=(n_boot, nb))
    t1, t2 = s1[starts].sum(1), s2[starts].sum(1)
    var = (t2 - t1 * t1 / m) / (m - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sh = np.where(var > 1e-30, (t1 / m) / np.sqrt(np.maximum(var, 0)) * np.sqrt(ppy), np.nan)
    return bootstrap_ci(sh, level)

def long_bars(n:int) -> pd.DataFrame:
    "n hourly bars: the real EURUSD sample's bar-to-bar moves, replayed end to end (prices stay realistic)."
    s = load_sample()
    rel = s[["open", "high", "low", "close"]].div(s["close"].shift(1), axis=0).iloc[1:].to_numpy()
    reps = -(-n // len(rel))
    rel = np.tile(rel, (reps, 1))[:n]
    rel = rel / np.exp(np.log(rel[:, 3]).mean()) # remove the sample's drift so the replay stays near 1.1
    close = 1.1 * np.cumprod(rel[:, 3])
    prev = np.r_[1.1, close[:-1]]
    ohlc = rel * prev[:, None]
    idx = pd.date_range("2010-01-03 22:00", periods=n, freq="h", tz="UTC", name="time")
    return pd.DataFrame({"open": ohlc[:, 0], "high": ohlc[:, 1], "low": ohlc[:, 2], "close": ohlc[:, 3], "volume": 0.0}, idx)

def best(f, k):
    "Best wall time of k runs (the machine is shared; the minimum is the least disturbed run) and the last result."
    ts = []
    for _ in range(k):
        t0 = time.perf_counter(); r = f(); ts.append(time.perf_counter() - t0)
    return min(ts), r

def run(n:int, seed:int=0) -> dict:
    bars = long_bars(n)
    rng = np.random.default_rng(seed)
    pos = pd.Series(rng.choice([-1.0, 0.0, 1.0], n), bars.index).where(rng.random(n) < .05).ffill().fillna(0)
    size = pd.Series(rng.random(n), bars.index).where(rng.random(n) < .05).ffill().fillna(1).round(1) # resized on its own schedule
    cfg = ExecutionConfig(spread_pips=0.5, commission=1e-5)
    backtest_vectorized(bars.iloc[:1000], pos.iloc[:1000], cfg) # warm-up (compiled kernels)
    t = {}
    t["ours, default call"], v = best(lambda: backtest_vectorized(bars, pos, cfg), 3)
    t["backtesting.py, default call"], b = best(lambda: backtest_backtesting_py(bars, pos, cfg), 1)
    t["ours: core (equity, costs, stats)"], _ = best(lambda: backtest_vectorized(bars, pos, cfg, trades=False, n_boot=0), 3)
    t["ours: core + FIFO ledger"], _ = best(lambda: backtest_vectorized(bars, pos, cfg, n_boot=0), 3)
    t["ours: core + ledger + Sharpe interval"] = t["ours, default call"]
    t["ours, confidence-sized signal"], cv = best(lambda: backtest_vectorized(bars, pos * size, cfg), 3)
    t["backtesting.py, confidence-sized"], cb = best(lambda: backtest_backtesting_py(bars, pos * size, cfg), 1)
    d1, d2 = compare_engines(v, b), compare_engines(cv, cb)
    r = v.equity.to_numpy(); r = r[1:] / r[:-1] - 1; blk = block_length(r)   # the interval the default call computes
    for _ in range(2):                                                        # interleaved: before, after, before, after
        tb, ci_b = best(lambda: sharpe_ci_before(r, 6000, block=blk), 1); ta, ci_a = best(lambda: sharpe_ci(r, 6000, block=blk), 1)
        t["sharpe_ci before #11"] = min(t.get("sharpe_ci before #11", 1e9), tb); t["sharpe_ci now"] = min(t.get("sharpe_ci now", 1e9), ta)
    assert np.allclose(ci_b, ci_a, rtol=1e-6), (ci_b, ci_a)                   # the same draws, the same interval
    return {"n": n, "block": blk, "t": t, "trades": v.stats["n_trades"], "trades_sized": cv.stats["n_trades"], "diff": max(d1.values()), "diff_sized": max(d2.values())}

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=100_000, help="bars in the larger run (the 1x row uses a tenth)")
    ap.add_argument("--quick", action="store_true", help="1,000 and 10,000 bars")
    a = ap.parse_args()
    n = 10_000 if a.quick else a.bars
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; n_boot 1000 for both engines")
    rows = [run(n // 10), run(n)]
    for r in rows:
        t = r["t"]
        print(f"\n{r['n']:,} bars: {r['trades']} trades (engines agree: max rel. diff {r['diff']:.1e}); confidence-sized: "
              f"{r['trades_sized']} trades (max rel. diff {r['diff_sized']:.1e})")
        for k, s in t.items(): print(f"  {k:40s} {s * 1e3:10.1f} ms")
        print(f"  default call: backtesting.py / ours = {t['backtesting.py, default call'] / t['ours, default call']:.0f}x; "
              f"Sharpe interval = {100 * (t['ours, default call'] - t['ours: core + FIFO ledger']) / t['ours, default call']:.0f}% of our call; "
              f"confidence-sized: {t['backtesting.py, confidence-sized'] / t['ours, confidence-sized signal']:.0f}x")
        print(f"  sharpe_ci alone ({r['n'] - 1:,} returns, block {r['block']}, 1000 resamples): "
              f"before #11 / now = {t['sharpe_ci before #11'] / t['sharpe_ci now']:.1f}x")
    small, large = rows
    print("\nscaling 1x -> 10x bars (10 = linear): " + ", ".join(f"{k} {large['t'][k] / small['t'][k]:.1f}" for k in small["t"]))

if __name__ == "__main__": main()
