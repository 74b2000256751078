"""Training throughput of the default SignalModel at t_in=120 on CPU, and the share of step time spent waiting on data.

    python bench/bench_training.py            # default model, t_in=120, 30 measured steps, threads 1 and all (~2 min)
    python bench/bench_training.py --quick    # 10 measured steps, one thread setting

Data: the real EURUSD H1 sample prepared with DataConfig(t_in=120, t_out=10). Each measured epoch runs the real
trainer (`sequence_fx.training.train`: DataLoader + DistributedSampler + batched window gather, AdamW, schedule,
clipping, metrics, background checkpointing); `data_wait_s` is the time the loop blocks on `next(loader)` plus the
host->device copy, `time_s` the wall time of the whole pass. The first epoch is a warm-up and is not reported.
Also reports inference throughput of `load_signal_model(...).predict_windows`.
"""
import argparse, os, tempfile, time
from pathlib import Path

import numpy as np
import torch

from sequence_fx.data import load_sample
from sequence_fx.dataset import DataConfig, prepare_dataset
from sequence_fx.encoder import ModelConfig, SignalModel
from sequence_fx.training import TrainingConfig, train, load_signal_model


def run(prepared, threads:int, steps:int, epochs:int, batch_size:int, num_workers:int):
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as d:
        tc = TrainingConfig(epochs=epochs + 1, batch_size=batch_size, max_steps_per_epoch=steps, progress=False, patience=0,
                            num_workers=num_workers, device="cpu")
        res = train(prepared, ModelConfig(), tc, d)
        h = res.history[1:]                        # drop the warm-up epoch
        samples = sum(r["train_n"] for r in h); t = sum(r["train_time_s"] for r in h); wait = sum(r["train_data_wait_s"] for r in h)
        t0 = time.perf_counter()
        pred = load_signal_model(res.best_path)
        idx = prepared.sample_index("test")
        pred.predict_windows(prepared.X, idx, batch_size=512)
        t_inf = time.perf_counter() - t0
    return samples / t, wait / t, len(idx) / t_inf


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one short epoch, one thread setting")
    ap.add_argument("--t-in", type=int, default=120)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--num-workers", type=int, default=0)
    a = ap.parse_args()
    steps, epochs = (10, 1) if a.quick else (30, 1)
    prepared = prepare_dataset(load_sample("eurusd_h1"), DataConfig(t_in=a.t_in, t_out=10))
    n_params = sum(p.numel() for p in SignalModel(ModelConfig(n_features=prepared.n_features)).parameters())
    print(f"EURUSD H1 sample, t_in={a.t_in}, {prepared.n_features} features, default ModelConfig ({n_params:,} parameters), "
          f"batch {a.batch_size}, {epochs} x {steps} steps measured after a warm-up epoch, num_workers={a.num_workers}")
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs visible, load average {os.getloadavg()[0]:.1f}")
    settings = [1] if a.quick else sorted({1, torch.get_num_threads()})
    for th in settings:
        sps, wait, inf = run(prepared, th, steps, epochs, a.batch_size, a.num_workers)
        print(f"threads={th}: train {sps:,.0f} samples/s | data wait {100 * wait:.1f}% of step time | inference {inf:,.0f} windows/s")


if __name__ == "__main__":
    main()
