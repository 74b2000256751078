"""`make_features` now beside the pandas implementation it replaced (issue 11), on the same bars, interleaved.

    python bench/bench_features.py            # 100,000 and 1,000,000 M1 bars (~1-2 min)
    python bench/bench_features.py --quick    # 20,000 and 200,000 bars

Input: `random_bars(n)` (a random walk at M1 spacing) and the default FeatureConfig (28 columns). The peer ("before") is
`sequence_fx/features.py` as of the commit before the compiled kernels (0ae3da5^), loaded from git into its own module;
it is what users ran before. Printed per size: best-of-k wall time of each (interleaved: before, now, before, now),
rows/s, before / now, the largest |difference| between the two per column family (the pandas rolling std drifts; the
notebook checks ours against a longdouble reference to < 1e-10), and the growth from 1x to 10x rows (10 = linear).
"""
import argparse, importlib.util, os, subprocess, sys, tempfile, time
from pathlib import Path
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
from sequence_fx.features import FeatureConfig, make_features, random_bars

BEFORE = "0ae3da5^"

def load_before():
    "The pre-issue-11 features module, from git, as sequence_fx._features_before."
    root = Path(__file__).resolve().parents[1]
    src = subprocess.run(["git", "-C", str(root), "show", f"{BEFORE}:sequence_fx/features.py"], capture_output=True, text=True, check=True).stdout
    f = Path(tempfile.mkdtemp()) / "_features_before.py"; f.write_text(src)
    spec = importlib.util.spec_from_file_location("sequence_fx._features_before", f)
    m = importlib.util.module_from_spec(spec); sys.modules[spec.name] = m; spec.loader.exec_module(m)
    return m

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000, help="bars in the 1x row")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    rows = 20_000 if a.quick else a.rows
    old = load_before()
    make_features(random_bars(2000))                       # compile / load cached kernels
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; default FeatureConfig; before = features.py at {BEFORE}")
    res = {}
    for k in (1, 10):
        bars = random_bars(k * rows, seed=1, freq="1min", vol=2e-4)
        t = {"before": [], "now": []}
        for _ in range(a.repeat):
            for name, f in (("before", lambda: old.make_features(bars, old.FeatureConfig())), ("now", lambda: make_features(bars, FeatureConfig()))):
                t0 = time.perf_counter(); out = f(); t[name].append(time.perf_counter() - t0)
                if name == "before": fb = out
                else: fn = out
        b, n = min(t["before"]), min(t["now"])
        assert list(fb.columns) == list(fn.columns)
        diff = (fb - fn).abs().max().sort_values()
        res[k] = (b, n)
        print(f"\n{k:>2}x: {len(bars):,} bars, {fn.shape[1]} columns")
        print(f"    before {b:7.3f} s ({len(bars) / b / 1e6:.2f} M rows/s) | now {n:7.3f} s ({len(bars) / n / 1e6:.2f} M rows/s) | before / now = {b / n:.1f}x")
        print(f"    largest |before - now|: {diff.iloc[-1]:.1e} ({diff.index[-1]}); median over columns {diff.median():.1e}")
    print(f"\nscaling 1x -> 10x rows (10 = linear): before {res[10][0] / res[1][0]:.1f}, now {res[10][1] / res[1][1]:.1f}")

if __name__ == "__main__": main()
