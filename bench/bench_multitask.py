"""Step time of multi-task training against single-task training at the same encoder size, and the data-wait share.

    python bench/bench_multitask.py            # default ModelConfig, t_in=120, 20 measured steps per setting (~3 min on 1 CPU thread)
    python bench/bench_multitask.py --quick    # small model, t_in=32, 10 steps

Data: the real EURUSD H1 sample prepared with DataConfig(t_in, t_out=10). Every setting runs the real trainers end
to end (`sequence_fx.training.train` for the single-task SignalModel, `sequence_fx.multitask.train_multitask` for the
three-head model: DataLoader with batched window gathers, AdamW, schedule, clipping, metrics, background checkpoints),
one warm-up epoch then one measured epoch of `--steps` optimiser steps; `ms/step` is the measured epoch's wall time
per step, `data wait` the share of it spent blocked on the loader plus the host->device copy. The single-task run
is the peer, measured in the same process with the same threads; the ratio is multi / single. GradNorm needs one
extra backward pass per task (through the heads and the shared layer only) and is reported on its own row; the
10x rows repeat single-task and uncertainty weighting once at 10x the batch size, for a quarter of the steps (compute scaling,
not data scaling).
"""
import argparse, os, tempfile, time

import numpy as np
import torch
import torch.nn.functional as F

from sequence_fx.data import load_sample
from sequence_fx.dataset import DataConfig, prepare_dataset
from sequence_fx.encoder import ModelConfig, SignalModel
from sequence_fx.training import TrainingConfig, train, SupervisedObjective, class_weights
from sequence_fx.multitask import (MultiTaskConfig, MultiTaskModel, MultiTaskObjective, train_multitask, WEIGHTINGS, fit_targets, target_matrix,
                                   head_classes)


def measure(fn, prepared, mc, tc):
    "(ms per step, data-wait share) of the second (measured) epoch."
    with tempfile.TemporaryDirectory() as d:
        res = fn(prepared, mc, tc, d)
    h = res.history[-1]
    return 1000 * h["train_time_s"] / tc.max_steps_per_epoch, h["train_data_wait_s"] / h["train_time_s"]


def compute_only(prepared, mc, batch_size:int, iters:int, methods=WEIGHTINGS) -> dict:
    "Fastest seconds per optimiser step of model + objective + AdamW on one fixed batch, all variants interleaved step by step."
    torch.manual_seed(0)
    rows = prepared.sample_index("train")[:batch_size]
    X = torch.from_numpy(prepared.X)
    x = X[torch.as_tensor(rows)[:, None] + torch.arange(-prepared.data_cfg.t_in + 1, 1)]
    y1 = torch.as_tensor(prepared.y[rows])
    Y = torch.from_numpy(target_matrix(prepared, fit_targets(prepared))[rows])
    variants = {"single-task": (SignalModel(mc), None)}
    for m in methods:
        model = MultiTaskModel(mc)
        cfg = MultiTaskConfig(loss_weighting=m)
        variants[f"multi-task, {m}"] = (model, MultiTaskObjective(cfg.tasks, {t: head_classes(t, 3) for t in cfg.tasks}, cfg,
                                                                  shared=model.shared_layer))
    sup = SupervisedObjective(3, class_weights(prepared.y[rows], 3))
    opts = {k: torch.optim.AdamW(list(m.parameters()) + (list(o.parameters()) if o is not None else []), lr=1e-4) for k, (m, o) in variants.items()}
    def step(k):
        model, obj = variants[k]
        obj = obj or sup
        opts[k].zero_grad(set_to_none=True)
        loss, _ = obj(model(x), Y if obj is not sup else y1)
        loss.backward(); obj.before_step(); opts[k].step(); obj.after_step()
    times = {k: [] for k in variants}
    for i in range(iters + 2):
        for k in variants:
            t0 = time.perf_counter(); step(k); dt = time.perf_counter() - t0
            if i >= 2: times[k].append(dt)                  # two warm-up steps
    return {k: min(v) for k, v in times.items()}          # the minimum: load from other processes only ever adds time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small model, t_in=32, 10 steps")
    ap.add_argument("--steps", type=int, default=20, help="measured optimiser steps per setting")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=2, help="interleaved repetitions; the median is reported")
    ap.add_argument("--iters", type=int, default=20, help="compute-only steps per variant (a quarter at 10x batch)")
    ap.add_argument("--no-end-to-end", action="store_true", help="only the compute-only comparison")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t_in = 32 if a.quick else 120
    steps = 10 if a.quick else a.steps
    mc = (ModelConfig(cnn_channels=(16,), cnn_kernels=(5,), lstm_hidden=16, attn_dim=32, attn_heads=4, embed_dim=32, head_hidden=32)
          if a.quick else ModelConfig())
    prepared = prepare_dataset(load_sample("eurusd_h1"), DataConfig(t_in=t_in, t_out=10))
    mc = ModelConfig(**{**mc.to_dict(), "n_features": prepared.n_features})
    n_single = sum(p.numel() for p in SignalModel(mc).parameters())
    n_multi = sum(p.numel() for p in MultiTaskModel(mc).parameters())
    print(f"EURUSD H1 sample, t_in={t_in}, t_out=10, {prepared.n_features} features, batch {a.batch_size}, {steps} measured steps after a "
          f"warm-up epoch, device {a.device}, {a.threads} thread(s), median of {a.repeats}")
    print(f"parameters: single-task {n_single:,}, multi-task (3 heads) {n_multi:,} (+{n_multi - n_single:,} in two more heads)")
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs visible, load average {os.getloadavg()[0]:.1f}")

    def tc(bs): # the 10x-batch rows take a quarter of the steps (each is ~10x longer)
        return TrainingConfig(epochs=2, batch_size=bs, max_steps_per_epoch=steps if bs == a.batch_size else max(2, steps // 4), progress=False,
                              patience=0, device=a.device)
    single = lambda p, m, t, d: train(p, m, t, d)
    multi = lambda w: (lambda p, m, t, d: train_multitask(p, m, MultiTaskConfig(loss_weighting=w), t, d))
    settings = [("single-task (peer)", single, a.batch_size)] + [(f"multi-task, {w}", multi(w), a.batch_size) for w in WEIGHTINGS]
    big = [("single-task, 10x batch", single, 10 * a.batch_size), ("multi-task, uncertainty, 10x batch", multi("uncertainty"), 10 * a.batch_size)]
    if not a.no_end_to_end:
        runs = {name: [] for name, _, _ in settings + big}
        for r in range(a.repeats):                   # interleaved, so load changes on a shared machine hit every setting alike
            for name, fn, bs in settings + (big if r == 0 else []): runs[name].append(measure(fn, prepared, mc, tc(bs)))
        med = {k: sorted(v)[len(v) // 2] for k, v in runs.items()}
        peer, peer10 = med["single-task (peer)"][0], med["single-task, 10x batch"][0]
        print(f"end to end (the real trainers): {'setting':38s} {'ms/step':>9s} {'x single':>9s} {'data wait':>10s}")
        for name, _, bs in settings + big:
            ms, wait = med[name]
            ref = peer10 if "10x" in name else peer
            print(f"{'':32s}{name:38s} {ms:9.1f} {ms / ref:9.2f} {100 * wait:9.1f}%")
        mt = [med[f"multi-task, {w}"][0] / peer for w in ("fixed", "uncertainty", "dwa")]
        print(f"end to end, multi-task / single-task step time (fixed, uncertainty, dwa): worst {max(mt):.2f}x (aim <= 1.25x); "
              f"gradnorm {med['multi-task, gradnorm'][0] / peer:.2f}x")
    print(f"\ncompute only (forward + loss + backward + AdamW step on one batch, variants interleaved step by step, fastest of {a.iters})")
    for bs in (a.batch_size, 10 * a.batch_size):
        c = compute_only(prepared, mc, bs, a.iters if bs == a.batch_size else max(3, a.iters // 4))
        base = c["single-task"]
        print(f"  batch {bs:4d}: " + ", ".join(f"{k} {1000 * v:.1f} ms ({v / base:.2f}x)" for k, v in c.items()))


if __name__ == "__main__":
    main()
