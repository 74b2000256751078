"""Sentiment pipeline: GKG parsing beside pandas' C parser on the same files, and FinBERT scoring with cache misses vs hits.

    .venv/bin/python bench/bench_sentiment.py            # 5,000 and 50,000 records (~4.3 KB each), 2,000 texts (~2-3 min)
    .venv/bin/python bench/bench_sentiment.py --quick    # 2,000 and 20,000 records, 500 texts

GKG files: records in the real GKG 2.1 layout from `synthetic_gkg_records` with a GCAM field long enough that the mean
line is ~4.3 KB, as real GKG lines are (GCAM, counts, locations and names make up most of a record; the parser
keeps 9 of the 27 columns). Each size is written as a plain `.gkg.csv` and as GDELT's `.gkg.csv.zip`.

Peer, measured in the same run, interleaved with ours (medians of `--repeat` runs): pandas' C parser reading the
same file (`read_csv(sep='\\t', quoting=QUOTE_NONE, usecols=<the 10 columns we read>, dtype=str)`): it only splits
the kept columns into strings. Ours also validates every line (UTF-8, 27 columns, DATE, 7 finite V2Tone values),
counts malformed lines per file, parses DATE and V2Tone and extracts page titles; printed: records/s of
`iter_gkg_chunks` (the core, lists) and `read_gkg` (DataFrames), the ratio to the peer, and how time grew from 1x to
10x the records (10 = linear). Scoring uses a tiny random BERT classifier, so "miss" throughput measures the
pipeline's overhead more than a real FinBERT's compute; "hit" throughput is what a re-run costs.
Figures go to stdout and bench/results/sentiment.json.
"""
import argparse, csv, json, logging, os, statistics, tempfile, time, zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from sequence_fx.sentiment import (GKG_COLUMNS, _COL, _KEEP, FinbertScorer, ParseReport, SentimentConfig, batch_name, gkg_articles,
                                   iter_gkg_chunks, make_tiny_classifier, read_gkg, synthetic_gkg_records, write_gkg_zip)


def timed(fn):
    t = time.perf_counter(); out = fn(); return out, time.perf_counter() - t

def write_files(d:Path, n_rec:int, gcam_terms:int, stamp:str="2017-07-03 09:00") -> tuple[Path, Path, float]:
    "(zip, plain csv, mean line bytes) of n_rec records: 2,000 distinct invented records repeated with fresh ids."
    uniq = [l for _, l in synthetic_gkg_records(min(n_rec, 2000), stamp, batches=1, seed=0, gcam_terms=gcam_terms)]
    recs = [l if i < len(uniq) else f"{l.split(chr(9), 1)[0]}x{i}\t{l.split(chr(9), 1)[1]}"
            for i, l in ((i, uniq[i % len(uniq)]) for i in range(n_rec))]
    sub = d / str(n_rec); sub.mkdir()
    z = write_gkg_zip(sub / batch_name(stamp), recs)
    plain = sub / batch_name(stamp).removesuffix(".zip")
    with zipfile.ZipFile(z) as f: plain.write_bytes(f.read(f.namelist()[0]))
    return z, plain, float(np.mean([len(l.encode()) for l in recs[:2000]]))

def peer(path:Path) -> int:
    "pandas' C parser on the same file: the kept columns and V2Tone as strings, nothing checked."
    cols = [_COL[c] for c in _KEEP] + [_COL["V2Tone"]]
    return len(pd.read_csv(path, sep="\t", header=None, names=GKG_COLUMNS, usecols=cols, dtype=str, quoting=csv.QUOTE_NONE,
                           keep_default_na=False, engine="c", compression="zip" if path.suffix == ".zip" else None))

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2k/20k records and 500 texts")
    ap.add_argument("--records", type=int, default=None, help="records in the 1x file (the 10x file has ten times as many)")
    ap.add_argument("--gcam-terms", type=int, default=420, help="GCAM entries per record (420: ~4.3 KB lines)")
    ap.add_argument("--texts", type=int, default=None, help="distinct texts to score (default 2,000)")
    ap.add_argument("--batch-size", type=int, default=64, help="FinBERT batch size")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved runs per measurement (medians reported)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    n1 = a.records or (2_000 if a.quick else 5_000)
    n_txt = a.texts or (500 if a.quick else 2_000)
    res = {"cpus": os.cpu_count(), "load_average": os.getloadavg()[0], "sizes": {}}
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; peer and ours interleaved, medians of {a.repeat}")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        times = {}
        for n_rec in (n1, 10 * n1):
            (z, plain, line_b), dt = timed(lambda: write_files(d, n_rec, a.gcam_terms))
            print(f"\n{n_rec:,} records, mean line {line_b:,.0f} B: plain {plain.stat().st_size / 1e6:.0f} MB, zip "
                  f"{z.stat().st_size / 1e6:.0f} MB (written in {dt:.1f} s)")
            row = {"records": n_rec, "line_bytes_mean": line_b}
            for kind, path in (("plain", plain), ("zip", z)):
                t = {"pandas C parser (peer)": [], "iter_gkg_chunks (core)": [], "read_gkg (DataFrames)": []}
                for _ in range(a.repeat):
                    n, s = timed(lambda: peer(path)); assert n == n_rec; t["pandas C parser (peer)"].append(s)
                    n, s = timed(lambda: sum(len(c["record_id"]) for c, _ in iter_gkg_chunks(path))); assert n == n_rec
                    t["iter_gkg_chunks (core)"].append(s)
                    n, s = timed(lambda: len(read_gkg(path))); assert n == n_rec; t["read_gkg (DataFrames)"].append(s)
                med = {k: statistics.median(v) for k, v in t.items()}
                base = med["pandas C parser (peer)"]
                for k, v in med.items():
                    print(f"  {kind:5s} {k:24s} {n_rec / v:>9,.0f} records/s  {v:6.2f} s  = {v / base:.2f}x the peer's time")
                row[kind] = med
                times[(kind, n_rec)] = med
            arts, dt = timed(lambda: gkg_articles([z], "eurusd", SentimentConfig(), ParseReport(), progress=False))
            print(f"  zip   parse + EURUSD filter + text {n_rec / dt:>9,.0f} records/s  {dt:6.2f} s  ({len(arts):,} relevant after URL de-duplication)")
            row["parse_filter_rec_s"] = n_rec / dt
            res["sizes"][n_rec] = row
        print("\nscaling 1x -> 10x records (10 = linear): " + ", ".join(
            f"{kind} {k.split(' (')[0]} {times[(kind, 10 * n1)][k] / times[(kind, n1)][k]:.1f}"
            for kind in ("plain", "zip") for k in times[(kind, n1)]))

        model = make_tiny_classifier(d / "tiny")
        rng = np.random.default_rng(0)
        words = "euro dollar yen ecb fed rate hike cut inflation growth strong weak rises falls data policy".split()
        texts = list(dict.fromkeys(" ".join(rng.choice(words, 8)) + f" {i}" for i in range(n_txt)))
        sc = FinbertScorer(str(model), batch_size=a.batch_size, cache_dir=d / "scores")
        _, dt = timed(lambda: sc.score(texts))
        assert sc.misses == len(texts)
        res["score_miss_txt_s"] = len(texts) / dt
        print(f"\nscore, cache misses (tiny):    {len(texts) / dt:>10,.0f} texts/s    ({dt:.2f}s)")
        sc2 = FinbertScorer(str(model), batch_size=a.batch_size, cache_dir=d / "scores")   # fresh process state, disk cache
        _, dt = timed(lambda: sc2.score(texts))
        assert sc2.hits == len(texts) and sc2.misses == 0
        res["score_hit_txt_s"] = len(texts) / dt
        print(f"score, cache hits (from disk): {len(texts) / dt:>10,.0f} texts/s    ({dt:.3f}s)")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "sentiment.json").write_text(json.dumps(res, indent=1, default=str))
    return res


if __name__ == "__main__":
    main()
