"""Training from Parquet shards (`--stream`) beside the in-memory trainer: peak memory at 1x and 10x the rows, and throughput.

    python bench/bench_stream.py                # 50,000 and 500,000 M1-like bars (~4-6 min on 2 shared cores)
    python bench/bench_stream.py --rows 20000   # 20,000 and 200,000 bars
    python bench/bench_stream.py --quick        # 10,000 and 100,000 bars, fewer steps

Input: `random_bars(n)` (a random walk, M1 spacing) prepared with DataConfig(t_in=120, t_out=10, splits=(0.9, 0.02, 0.08))
(a small validation split: fit() validates every epoch, and that is not what is measured here) and the default FeatureConfig; the same dataset saved as the prepared dataset (frame.parquet, what the in-memory trainer loads) and
written as shards (`write_shards`, `--shard-rows` rows each, what the stream reads).

1. Peak memory (VmHWM of a fresh process: ru_maxrss is not used, Linux carries the parent's peak across fork+exec): each path loads its data and runs one full epoch of
   its training batches (every training window gathered once, no model), then a short `fit()` run (the shared
   trainer loop, default SignalModel). In-memory: `PreparedDataset.load` + the scaled matrix + `BatchWindows` under a
   `DistributedSampler`, as `train()` does. Stream: `StreamWindows` over the shards and nothing else (it never sees the
   frame). Printed per size, and the 10x / 1x ratio of each (1.0 = flat).
2. Throughput of `fit()` (samples/s over `--steps` optimiser steps after a warm-up epoch; validation not counted),
   in-memory vs stream, interleaved in one process (in-memory, stream, in-memory, stream) so both see the same load;
   printed: the medians and stream / in-memory.
The machine is shared: ratios measured in one run are what to compare.
"""
import argparse, json, os, resource, statistics, subprocess, sys, tempfile, time
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from pathlib import Path

import numpy as np
import torch


def peak_mb() -> float:
    "This process's peak RSS in MB: VmHWM of its own address space (ru_maxrss would carry the parent's peak across fork+exec)."
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"): return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def child(mode:str, root:str, steps:int, threads:int):
    "Fresh process: one full data epoch then a short fit() run on one path; prints its peak RSS (MB) as JSON."
    from torch.utils.data import DataLoader, DistributedSampler
    from sequence_fx.dataset import PreparedDataset
    from sequence_fx.encoder import ModelConfig, SignalModel
    from sequence_fx.training import (TrainingConfig, fit, BatchWindows, StreamWindows, SupervisedObjective, _collate)
    torch.set_num_threads(threads)
    root = Path(root)
    tc = TrainingConfig(epochs=1, batch_size=64, max_steps_per_epoch=steps, progress=False, patience=0, device="cpu", num_threads=threads)
    t0 = time.perf_counter()
    if mode == "memory":
        ds = PreparedDataset.load(root / "prepared")
        tr, va = BatchWindows(ds.window_dataset("train")), BatchWindows(ds.window_dataset("val"))
        nf, nc = ds.n_features, ds.n_classes
        n = sum(len(y) for _, y in DataLoader(tr, batch_size=64, sampler=DistributedSampler(tr, 1, 0, seed=0), collate_fn=_collate))
    else:
        tr = StreamWindows(root / "shards", "train", 64, shuffle=True, pad=True, seed=0)
        va = StreamWindows(root / "shards", "val", 256, shuffle=False, pad=False)
        nf, nc = len(tr.cols), tr.info["n_classes"]
        n = sum(len(y) for _, y in tr)
    t_epoch = time.perf_counter() - t0
    data_mb = peak_mb()
    model = SignalModel(ModelConfig(n_features=nf, n_classes=nc))
    with tempfile.TemporaryDirectory() as d:
        fit(model, SupervisedObjective(nc), tr, va, {"feature_columns": []}, tc, d)
    print(json.dumps({"peak_mb": peak_mb(), "data_mb": data_mb, "windows": n, "data_epoch_s": t_epoch}))


def make(root:Path, n:int, shard_rows:int):
    from sequence_fx.features import random_bars
    from sequence_fx.dataset import DataConfig, prepare_dataset, write_shards
    ds = prepare_dataset(random_bars(n, seed=1, freq="1min", vol=2e-4), DataConfig(t_in=120, t_out=10, splits=(0.9, 0.02, 0.08)))
    ds.save(root / "prepared"); write_shards(ds, root / "shards", shard_rows)
    raw = sum(f.stat().st_size for f in (root / "prepared").iterdir())
    return ds, raw


def throughput(ds, root:Path, steps:int, threads:int, rounds:int):
    from sequence_fx.encoder import ModelConfig
    from sequence_fx.training import TrainingConfig, train
    torch.set_num_threads(threads)
    out = {"in-memory": [], "stream": []}
    for _ in range(rounds):
        for k in out:
            with tempfile.TemporaryDirectory() as d:
                tc = TrainingConfig(epochs=2, batch_size=64, max_steps_per_epoch=steps, progress=False, patience=0, device="cpu",
                                    num_threads=threads, stream=k == "stream", shard_rows=int(root.name.split("_")[1]))
                h = train(ds, ModelConfig(), tc, d).history[1]          # epoch 1 is the warm-up
                out[k].append(h["train_n"] / h["train_time_s"])
    return {k: statistics.median(v) for k, v in out.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=50_000, help="bars in the 1x row (the 10x row uses ten times as many)")
    ap.add_argument("--shard-rows", type=int, default=0, help="rows per shard (default: rows / 4, so 1x already fills a 4-shard buffer)")
    ap.add_argument("--steps", type=int, default=30, help="optimiser steps timed per run")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--memory-only", action="store_true", help="skip the throughput runs")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child: return child(a.child[0], a.child[1], a.steps, a.threads)
    rows = 10_000 if a.quick else a.rows
    steps, rounds = (10, 1) if a.quick else (a.steps, 2)
    shard_rows = a.shard_rows or max(1000, rows // 4)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, torch {torch.__version__}, threads {a.threads}, batch 64, "
          f"t_in 120; shards of {shard_rows:,} rows, buffer 4 shards; {steps} timed steps")
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k in (1, 10):
            root = Path(tmp) / f"x{k}_{shard_rows}"; root.mkdir()
            t0 = time.perf_counter(); ds, raw = make(root, k * rows, shard_rows); t_make = time.perf_counter() - t0
            r = {"rows": k * rows, "prepared_mb": raw / 2**20, "shards": len(list((root / "shards").glob("*.parquet"))), "make_s": t_make}
            for mode in ("memory", "stream"):
                p = subprocess.run([sys.executable, __file__, "--child", mode, str(root), "--steps", str(max(2, steps // 3)),
                                    "--threads", str(a.threads)], capture_output=True, text=True)
                if p.returncode: sys.exit(f"child {mode} failed:\n{p.stderr[-3000:]}")
                r[mode] = json.loads(p.stdout.strip().splitlines()[-1])
            r["sps"] = None if a.memory_only else throughput(ds, root, steps, a.threads, rounds)
            res[k] = r; del ds
            print(f"\n{k:>2}x: {r['rows']:,} bars, {r['memory']['windows']:,} training windows, prepared dataset {r['prepared_mb']:.0f} MB, "
                  f"{r['shards']} shards (prepare + write {t_make:.0f} s)")
            for mode in ("memory", "stream"):
                print(f"    peak RSS, {mode:6s}: {r[mode]['peak_mb']:7.0f} MB, {r[mode]['data_mb']:7.0f} MB after the data epoch (it took {r[mode]['data_epoch_s']:.1f} s, "
                      f"{r[mode]['windows']:,} windows)")
            s = r["sps"]
            if s: print(f"    fit() throughput: in-memory {s['in-memory']:.0f} samples/s, stream {s['stream']:.0f} samples/s, "
                  f"stream / in-memory = {s['stream'] / s['in-memory']:.2f}")
    print("\nscaling 1x -> 10x rows (peak RSS ratio; 1.0 = flat): in-memory "
          f"{res[10]['memory']['peak_mb'] / res[1]['memory']['peak_mb']:.2f}, stream {res[10]['stream']['peak_mb'] / res[1]['stream']['peak_mb']:.2f}; "
          f"after the data epoch: in-memory {res[10]['memory']['data_mb'] / res[1]['memory']['data_mb']:.2f}, stream {res[10]['stream']['data_mb'] / res[1]['stream']['data_mb']:.2f}; "
          f"stream windows == in-memory windows: {all(res[k]['memory']['windows'] == res[k]['stream']['windows'] for k in res)}")


if __name__ == "__main__": main()
