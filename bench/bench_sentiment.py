"""Benchmark of the sentiment pipeline: GKG parse throughput and FinBERT scoring with cache misses vs hits.

    .venv/bin/python bench/bench_sentiment.py            # 100k-record GKG file, 2,000 texts
    .venv/bin/python bench/bench_sentiment.py --quick    # 20k records, 500 texts

The GKG file is synthetic (records in the real GKG 2.1 layout from `synthetic_gkg_records`, ~1 KB per line; real
GKG lines are often longer because of the GCAM field, so real files parse at fewer records/s). Scoring uses a tiny
random BERT classifier, so "miss" throughput measures the pipeline's overhead more than a real FinBERT's compute;
"hit" throughput is what a re-run costs. Figures go to stdout and bench/results/sentiment.json.
"""
import argparse, json, logging, os, sys, tempfile, time
from pathlib import Path

import numpy as np

from sequence_fx.sentiment import (BATCH, FinbertScorer, ParseReport, SentimentConfig, batch_name, gkg_articles,
                                   iter_gkg, iter_gkg_chunks, make_tiny_classifier, synthetic_gkg_records, write_gkg_zip)


def timed(fn):
    t = time.perf_counter(); out = fn(); return out, time.perf_counter() - t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="20k records and 500 texts")
    ap.add_argument("--records", type=int, default=None, help="records in the generated GKG file (default 100,000)")
    ap.add_argument("--texts", type=int, default=None, help="distinct texts to score (default 2,000)")
    ap.add_argument("--batch-size", type=int, default=64, help="FinBERT batch size")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    n_rec = a.records or (20_000 if a.quick else 100_000)
    n_txt = a.texts or (500 if a.quick else 2_000)
    res = {"records": n_rec, "texts": n_txt, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        stamp = "2017-07-03 09:00"
        # 10k distinct invented records, repeated (with fresh record ids) up to n_rec: generating is slower than parsing
        uniq, dt = timed(lambda: [l for _, l in synthetic_gkg_records(min(n_rec, 10_000), stamp, batches=1, seed=0)])
        recs = [(None, l if i < len(uniq) else f"{l.split(chr(9), 1)[0]}x{i}\t{l.split(chr(9), 1)[1]}")
                for i, l in ((i, uniq[i % len(uniq)]) for i in range(n_rec))]
        path = write_gkg_zip(d / batch_name(stamp), [l for _, l in recs])
        res["line_bytes_mean"] = float(np.mean([len(l.encode()) for _, l in recs[:5000]]))
        res["zip_mb"] = path.stat().st_size / 1e6
        print(f"wrote {n_rec:,} synthetic records ({res['line_bytes_mean']:.0f} B/line, zip {res['zip_mb']:.1f} MB) in {dt:.1f}s")

        n, dt = timed(lambda: sum(len(c["record_id"]) for c, _ in iter_gkg_chunks(path)))
        assert n == n_rec
        res["parse_core_rec_s"] = n / dt
        print(f"parse (core, lists):           {n / dt:>10,.0f} records/s  ({dt:.2f}s)")
        n, dt = timed(lambda: sum(len(df) for df in iter_gkg(path)))
        res["parse_frames_rec_s"] = n / dt
        print(f"parse (DataFrames):            {n / dt:>10,.0f} records/s  ({dt:.2f}s)")
        arts, dt = timed(lambda: gkg_articles([path], "eurusd", SentimentConfig(), ParseReport(), progress=False))
        res["parse_filter_rec_s"] = n_rec / dt
        res["relevant_eurusd"] = len(arts)
        print(f"parse + EURUSD filter + text:  {n_rec / dt:>10,.0f} records/s  ({dt:.2f}s, {len(arts):,} relevant after URL de-duplication)")

        model = make_tiny_classifier(d / "tiny")
        rng = np.random.default_rng(0)
        words = "euro dollar yen ecb fed rate hike cut inflation growth strong weak rises falls data policy".split()
        texts = list(dict.fromkeys(" ".join(rng.choice(words, 8)) + f" {i}" for i in range(n_txt)))
        sc = FinbertScorer(str(model), batch_size=a.batch_size, cache_dir=d / "scores")
        _, dt = timed(lambda: sc.score(texts))
        assert sc.misses == len(texts)
        res["score_miss_txt_s"] = len(texts) / dt
        print(f"score, cache misses (tiny):    {len(texts) / dt:>10,.0f} texts/s    ({dt:.2f}s)")
        sc2 = FinbertScorer(str(model), batch_size=a.batch_size, cache_dir=d / "scores")   # fresh process state, disk cache
        _, dt = timed(lambda: sc2.score(texts))
        assert sc2.hits == len(texts) and sc2.misses == 0
        res["score_hit_txt_s"] = len(texts) / dt
        print(f"score, cache hits (from disk): {len(texts) / dt:>10,.0f} texts/s    ({dt:.3f}s)")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "sentiment.json").write_text(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()
