"""Vectorised engine vs backtesting.py on the same signal: the default call (trade ledger and Sharpe interval included).

    python bench/bench_backtest.py                 # 10,000 and 100,000 hourly bars (the 10x scaling row; ~2-3 min)
    python bench/bench_backtest.py --bars 20000    # 2,000 and 20,000 bars
    python bench/bench_backtest.py --quick         # 1,000 and 10,000 bars

Input: the real EURUSD sample's bar-to-bar moves replayed end to end (prices stay realistic), and a signal that changes
on ~1 bar in 20, like a model's argmax with some persistence; then the same with confidence sizing (partial resizes
split trades, so the ledger takes its FIFO loop). Both engines get the same bars, positions, ExecutionConfig and
bootstrap settings, and must agree (final equity, every trade).

Printed per size: the default call `backtest_vectorized(bars, position, cfg)` (equity, costs, FIFO ledger, stats and
the block-bootstrap Sharpe interval) beside `backtest_backtesting_py(bars, position, cfg)` (backtesting.py, plus the
same interval on its equity) and their ratio; the parts of our call (core, + ledger, + interval); and, last, how each
figure grew from 1x to 10x the bars (10 = linear; more means something super-linear). Best of k runs (shared machine).
"""
import argparse, os, time
os.environ.setdefault("TQDM_DISABLE", "1")   # backtesting.py draws a progress bar per run
import numpy as np, pandas as pd
from sequence_fx.data import load_sample
from sequence_fx.backtest import ExecutionConfig, backtest_vectorized, backtest_backtesting_py, compare_engines

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
    return {"n": n, "t": t, "trades": v.stats["n_trades"], "trades_sized": cv.stats["n_trades"], "diff": max(d1.values()), "diff_sized": max(d2.values())}

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
    small, large = rows
    print("\nscaling 1x -> 10x bars (10 = linear): " + ", ".join(f"{k} {large['t'][k] / small['t'][k]:.1f}" for k in small["t"]))

if __name__ == "__main__": main()
