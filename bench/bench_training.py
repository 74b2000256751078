"""Training throughput of the default SignalModel on CPU beside a plain Conv1d -> BiLSTM -> SDPA reference of equal size.

    python bench/bench_training.py              # threads 1 and 2, 8 interleaved rounds, trainer 10 and 100 steps (~3-4 min)
    python bench/bench_training.py --quick      # one thread setting, 4 rounds, trainer 5 and 50 steps

Data: the real EURUSD H1 sample prepared with DataConfig(t_in=120, t_out=10); batches of training windows gathered
from the scaled feature matrix, the same batches for both models.

1. Model step, ours vs the peer, measured in the same process and interleaved (ours, peer, ours, ...): one AdamW
   step (forward, cross-entropy, backward, update) in train mode, so our dropout is paid for. The reference has the
   same parameter count (its LSTM width is chosen to match) and no dropout, no LayerNorm, no FFN, no pooling MLP:
   the floor a leaner network of the same size sets; it is stock PyTorch. Ours is also timed with
   `sequence_fx.encoder.CONCURRENT_CPU = False` (its BiLSTM's two directions and attention's two half-batches one
   after the other, as the stock calls run them), so the share of the ratio owed to running them at once shows.
   Printed: median ms/step, samples/s, ratio ours / reference. The rows are measured twice: first in the fresh
   process as it is, then with glibc's malloc told to keep freed memory (mallopt: no trimming, mmap threshold
   64 MiB), because a step's fresh multi-MB activations otherwise page-fault on every step, which costs the peer
   (larger activations) more than ours: both regimes are printed so neither flatters the ratio.
2. As users call it: the real trainer (`sequence_fx.training.train`: DataLoader, batched window gather, AdamW with
   schedule, clipping, metrics, checkpoints) for 1x and 10x the steps, its samples/s and time ratio (a 10x row that
   took much more than 10x the time would show super-linear growth), and the ratio of its throughput to the peer's.
3. Inference throughput of `load_signal_model(...).predict_windows` on the test split.

The machine is shared: figures move with its load (printed); ratios measured in one run are what to compare.
Set OMP_WAIT_POLICY=PASSIVE on a shared machine (busy-waiting OpenMP threads slow everyone down).
"""
import argparse, ctypes, os, statistics, tempfile, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from sequence_fx.data import load_sample
from sequence_fx.dataset import DataConfig, prepare_dataset
import sequence_fx.encoder as encoder
from sequence_fx.encoder import ModelConfig, SignalModel
from sequence_fx.training import TrainingConfig, train, load_signal_model


class Reference(nn.Module):
    "The peer: Conv1d -> GELU -> BiLSTM -> fused QKV -> SDPA -> output projection -> mean over time -> linear head."
    def __init__(self, n_features:int, hidden:int, channels:int=32, heads:int=4, n_classes:int=3):
        super().__init__()
        d = 2 * hidden
        self.heads = heads
        self.conv = nn.Conv1d(n_features, channels, 5, padding=2)
        self.lstm = nn.LSTM(channels, hidden, batch_first=True, bidirectional=True)
        self.qkv, self.out, self.head = nn.Linear(d, 3 * d), nn.Linear(d, d), nn.Linear(d, n_classes)

    def forward(self, x): # x: [B, T, F]
        h = F.gelu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        h, _ = self.lstm(h)
        B, T, d = h.shape
        q, k, v = self.qkv(h).view(B, T, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, T, d)
        return self.head(self.out(a).mean(1))


def n_params(m): return sum(p.numel() for p in m.parameters())

def matched_reference(n_features:int, target:int, heads:int=4) -> Reference:
    "The reference whose parameter count is closest to `target` (LSTM width a multiple of heads/2, so heads divide 2*hidden)."
    step = max(1, heads // 2)
    return min((Reference(n_features, h, heads=heads) for h in range(step, 257, step)), key=lambda m: abs(n_params(m) - target))

def step_fn(model, X, y, batches, concurrent:bool=True):
    "One AdamW training step per call (the fused kernel, as the trainer builds it), cycling through the given batches of window end rows."
    opt = torch.optim.AdamW(model.parameters(), 1e-3, fused=True)
    model.train()
    it = iter(range(10**9))
    def step():
        encoder.CONCURRENT_CPU = concurrent
        idx = batches[next(it) % len(batches)]
        xb = X.windows(idx)
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(xb), y[idx]).backward()
        opt.step()
    return step

class Windows:
    "Batch gather of [B, t_in, F] windows from the scaled feature matrix (views stacked once per batch)."
    def __init__(self, X:np.ndarray, t_in:int): self.X, self.t_in = torch.from_numpy(X), t_in
    def windows(self, ends:np.ndarray) -> torch.Tensor:
        return self.X[torch.from_numpy(ends[:, None] + np.arange(-self.t_in + 1, 1))]

def model_rows(prepared, threads:int, rounds:int, per_round:int, batch_size:int):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    ours = SignalModel(ModelConfig(n_features=prepared.n_features, n_classes=prepared.n_classes))
    ref = matched_reference(prepared.n_features, n_params(ours))
    X, y = Windows(prepared.X, prepared.data_cfg.t_in), torch.from_numpy(prepared.y)
    idx = prepared.sample_index("train")
    rng = np.random.default_rng(0)
    batches = [rng.choice(idx, batch_size, replace=False) for _ in range(16)]
    steps = {"ours": step_fn(ours, X, y, batches), "reference": step_fn(ref, X, y, batches),
             "ours, stock ops": step_fn(ours, X, y, batches, concurrent=False)}
    for s in steps.values(): s(); s(); s()                  # warm-up (allocator, oneDNN primitives)
    times = {k: [] for k in steps}
    for _ in range(rounds):                                 # interleaved, so both see the same machine load
        for k, s in steps.items():
            t0 = time.perf_counter()
            for _ in range(per_round): s()
            times[k].append((time.perf_counter() - t0) / per_round)
    med = {k: statistics.median(v) for k, v in times.items()}
    encoder.CONCURRENT_CPU = True
    return n_params(ours), n_params(ref), ref.lstm.hidden_size, med

def keep_freed_memory() -> bool:
    "glibc only: stop malloc from returning freed memory to the OS (no trimming; blocks < 64 MiB from the heap). True if set."
    try: libc = ctypes.CDLL("libc.so.6")
    except OSError: return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    return bool(libc.mallopt(M_MMAP_THRESHOLD, 64 << 20)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 1 << 30))

def print_model_row(th, rounds, per_round, batch_size, med, regime):
    sps = {k: batch_size / v for k, v in med.items()}
    print(f"threads={th}  model step, {regime} ({rounds} interleaved rounds x {per_round} steps, medians): "
          f"ours {med['ours'] * 1e3:6.1f} ms = {sps['ours']:6.0f} samples/s | reference {med['reference'] * 1e3:6.1f} ms = "
          f"{sps['reference']:6.0f} samples/s | ours / reference = {sps['ours'] / sps['reference']:.2f}x "
          f"(ours with the stock BiLSTM and SDPA calls: {med['ours, stock ops'] * 1e3:6.1f} ms = {med['reference'] / med['ours, stock ops']:.2f}x)")
    return sps

def trainer_run(prepared, threads:int, steps:int, batch_size:int, num_workers:int):
    "samples/s of the real trainer for `steps` steps (after a warm-up epoch), data-wait share, wall time, inference windows/s."
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as d:
        tc = TrainingConfig(epochs=2, batch_size=batch_size, max_steps_per_epoch=steps, progress=False, patience=0,
                            num_workers=num_workers, device="cpu", num_threads=threads)
        res = train(prepared, ModelConfig(), tc, d)
        h = res.history[1:]                                 # the first epoch is the warm-up
        samples = sum(r["train_n"] for r in h); t = sum(r["train_time_s"] for r in h); wait = sum(r["train_data_wait_s"] for r in h)
        t0 = time.perf_counter()
        pred = load_signal_model(res.best_path)
        idx = prepared.sample_index("test")
        pred.predict_windows(prepared.X, idx, batch_size=512)
        t_inf = time.perf_counter() - t0
    return samples / t, wait / t, t, len(idx) / t_inf


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one thread setting, fewer rounds and steps")
    ap.add_argument("--t-in", type=int, default=120)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--num-workers", type=int, default=0)
    ap.add_argument("--threads", default=None, help="comma-separated torch thread counts (default: 1,2; --quick: 1)")
    a = ap.parse_args()
    rounds, per_round, steps = (4, 2, 5) if a.quick else (8, 3, 10)
    threads = [int(t) for t in a.threads.split(",")] if a.threads else ([1] if a.quick else [1, 2])
    prepared = prepare_dataset(load_sample("eurusd_h1"), DataConfig(t_in=a.t_in, t_out=10))
    print(f"EURUSD H1 sample, t_in={a.t_in}, {prepared.n_features} features, batch {a.batch_size}, "
          f"{len(prepared.sample_index('train')):,} training windows; torch {torch.__version__}, {os.cpu_count()} CPUs, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, load average {os.getloadavg()[0]:.1f}")
    for th in threads:
        po, pr, hid, med = model_rows(prepared, th, rounds, per_round, a.batch_size)
        if th == threads[0]:
            print(f"ours: default ModelConfig ({po:,} parameters, dropout 0.1); peer: Conv1d(32, k5) -> BiLSTM({hid}) -> "
                  f"SDPA (4 heads) -> mean -> linear ({pr:,} parameters, no dropout)")
        sps = print_model_row(th, rounds, per_round, a.batch_size, med, "fresh process")
        rows = []
        for k in (1, 10):
            sps_t, wait, t, inf = trainer_run(prepared, th, k * steps, a.batch_size, a.num_workers)
            rows.append(t)
            print(f"threads={th}  trainer, {k:>2}x = {k * steps:4d} steps: {sps_t:6.0f} samples/s ({sps_t / sps['reference']:.2f}x the peer's "
                  f"bare step), data wait {100 * wait:4.1f}%, {t:6.2f} s | inference {inf:,.0f} windows/s")
        print(f"threads={th}  trainer time for 10x the steps / 1x: {rows[1] / rows[0]:.1f} (10 = linear)")
    if keep_freed_memory():
        for th in threads:
            print_model_row(th, rounds, per_round, a.batch_size, model_rows(prepared, th, rounds, per_round, a.batch_size)[3],
                            "malloc keeps freed memory")


if __name__ == "__main__":
    main()
