"""Vectorised engine vs backtesting.py on the same 100k-bar signal.

Usage: python bench/bench_backtest.py [--bars 100000] [--quick]
Prints wall times and the speed-up, and checks that both engines agree (final equity, trades).
"""
import argparse, time
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

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=100_000)
    ap.add_argument("--quick", action="store_true", help="10k bars")
    a = ap.parse_args()
    n = 10_000 if a.quick else a.bars
    bars = long_bars(n)
    rng = np.random.default_rng(0)
    # a signal that changes on ~1 bar in 20, like a model's argmax with some persistence
    pos = pd.Series(rng.choice([-1.0, 0.0, 1.0], n), bars.index).where(rng.random(n) < .05).ffill().fillna(0)
    cfg = ExecutionConfig(spread_pips=0.5, commission=1e-5)
    backtest_vectorized(bars.iloc[:1000], pos.iloc[:1000], cfg) # warm-up
    def best(f, k):
        "Best wall time of k runs (the machine is shared; the minimum is the least disturbed run) and the last result."
        ts = []
        for _ in range(k):
            t0 = time.perf_counter(); r = f(); ts.append(time.perf_counter() - t0)
        return min(ts), r
    t = {}
    t["vectorised (equity, costs, stats)"], _ = best(lambda: backtest_vectorized(bars, pos, cfg, trades=False, n_boot=0), 5)
    t["vectorised + FIFO trade ledger"], v = best(lambda: backtest_vectorized(bars, pos, cfg, n_boot=0), 5)
    t["backtesting.py"], b = best(lambda: backtest_backtesting_py(bars, pos, cfg, n_boot=0), 3)
    t["vectorised + ledger + Sharpe CI (1000 boot)"], _ = best(lambda: backtest_vectorized(bars, pos, cfg), 5)
    diff = compare_engines(v, b)
    print(f"\n{n} bars, {v.stats['n_trades']} trades; engines agree: max rel. diff {max(diff.values()):.2e}")
    for k, s in t.items(): print(f"  {k:38s} {s*1e3:10.1f} ms")
    print(f"  speed-up vs backtesting.py: {t['backtesting.py']/t['vectorised (equity, costs, stats)']:.0f}x (core), "
          f"{t['backtesting.py']/t['vectorised + FIFO trade ledger']:.0f}x (with trade ledger)")
    # confidence sizing: partial increases/decreases split trades, so the ledger takes the FIFO loop
    size = pd.Series(rng.random(n), bars.index).where(rng.random(n) < .05).ffill().fillna(1).round(1) # resized on its own schedule
    cpos = pos * size
    tc = {}
    tc["vectorised + FIFO ledger"], cv = best(lambda: backtest_vectorized(bars, cpos, cfg, n_boot=0), 3)
    tc["backtesting.py"], cb = best(lambda: backtest_backtesting_py(bars, cpos, cfg, n_boot=0), 1)
    d2 = compare_engines(cv, cb)
    print(f"confidence-sized signal: {cv.stats['n_trades']} trades; engines agree: max rel. diff {max(d2.values()):.2e}")
    for k, s in tc.items(): print(f"  {k:38s} {s*1e3:10.1f} ms")
    print(f"  speed-up vs backtesting.py: {tc['backtesting.py']/tc['vectorised + FIFO ledger']:.0f}x")

if __name__ == "__main__": main()
