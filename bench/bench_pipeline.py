"""What sfx-pipeline costs beyond its stages, and how many sfx-tune trials an hour the sample allows.

    python bench/bench_pipeline.py            # t_in=64, default model, 3 epochs x 40 steps; 6 trials (~6 min on 2 CPUs)
    python bench/bench_pipeline.py --quick    # t_in=32, small model, 2 epochs x 10 steps; 4 trials

Pipeline: `pipeline_command` on the EURUSD sample (prepare -> train -> evaluate -> report) in a fresh run directory,
then again unchanged, after one untimed warm-up of the peer (imports, numba, dataset cache). The peer, measured in
the same process right after, is the same work done by calling the
stages' own functions directly in a row (`prepare_spec`, `train`, `evaluate_command`), with no run directory, status
file, fingerprints or index page. Rows: the pipeline's wall time, the sum of its stages' own timings (status.json), the
overhead = wall - stages (planning, hashing outputs, the status file, the lock, the log), the direct-call peer and the
ratio pipeline / peer; the unchanged re-run (every stage skipped: the whole cost of a resume check) and the 10x row: a
re-run check of a 10x larger status (ten pairs' worth of stages is not available offline, so it times
`stage_fingerprint` + `_intact` over 10x the outputs).

Tune: `tune_command` with SQLite storage in a fresh directory, one worker, the trial budget of --trials; trials/hour =
finished trials / search wall time (study creation to the last trial, the final retrain excluded), beside the time of
one walk-forward score computed directly (`wf_score`, the floor: a trial cannot be cheaper than its folds).
"""
import argparse, json, os, tempfile, time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from sequence_fx.prepare import DatasetSpec, prepare_spec
from sequence_fx.pipeline import TrainSpec, EvalSpec, pipeline_command, read_status, stage_fingerprint, _intact
from sequence_fx.tune import tune_command, wf_score, trainer_fit_predict


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--trials", type=int, default=None)
    a = ap.parse_args()
    t_in, ep, steps, ch, hid = (32, 2, 10, "8", 8) if a.quick else (64, 3, 40, "32,32", 32)
    trials = a.trials or (4 if a.quick else 6)
    spec = DatasetSpec(t_in=t_in, t_out=10)
    train = TrainSpec(epochs=ep, max_steps_per_epoch=steps, cnn_channels=ch, lstm_hidden=hid, patience=0)
    ev = EvalSpec(n_boot=200)
    print(f"inputs: EURUSD H1 sample, t_in={t_in}, cnn {ch}, lstm {hid}, {ep} epochs x {steps} steps, n_boot 200, threads 1")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        from sequence_fx.training import train as _train
        from sequence_fx.evaluation import evaluate_command
        from sequence_fx.prepare import dataset_dir
        parts = {}
        def direct(tag):
            t = time.perf_counter()
            ds = prepare_spec("eurusd", spec, d / "data")
            parts["prepare"] = time.perf_counter() - t; t = time.perf_counter()
            res = _train(ds, train.model_config(), train.training_config("cpu", 1, False), d / tag / "eurusd")
            parts["train"] = time.perf_counter() - t; t = time.perf_counter()
            evaluate_command(pairs="eurusd", checkpoint_path=str(res.best_path), dataset=str(dataset_dir(d / "data", "eurusd", ds.meta["cache_key"])),
                             data_dir=str(d / "data"), report_dir=str(d / f"{tag}_reports"), threads=1, n_boot=200)
            parts["evaluate"] = time.perf_counter() - t
            return ds
        direct("warmup")                       # untimed: imports, numba compilation and the dataset cache warm for both timed runs
        t0 = time.perf_counter()
        st = pipeline_command(pairs="eurusd", run_dir=str(d / "run"), data_dir=str(d / "data"), threads=1, progress=False, spec=spec, train=train, evaluation=ev)
        wall = time.perf_counter() - t0
        stages = sum(r["seconds"] for r in st["stages"].values())
        t0 = time.perf_counter()
        pipeline_command(pairs="eurusd", run_dir=str(d / "run"), data_dir=str(d / "data"), threads=1, progress=False, spec=spec, train=train, evaluation=ev)
        rerun = time.perf_counter() - t0
        t0 = time.perf_counter()
        ds = direct("direct")                  # the peer: the same stages called directly, no run directory
        peer = time.perf_counter() - t0
        # 10x: the resume check over ten times the stage records
        status = read_status(d / "run")
        recs = [(s, status["stages"][s]) for s in status["stages"]] * 10
        t0 = time.perf_counter()
        for name, rec in recs: _intact(rec, d / "run")
        check10 = time.perf_counter() - t0
        print(f"pipeline wall                 {wall:8.2f} s")
        print(f"  its stages (status.json)    {stages:8.2f} s")
        print(f"  overhead (wall - stages)    {wall - stages:8.2f} s  ({100 * (wall - stages) / wall:.1f}% of wall)")
        print(f"direct calls (peer)           {peer:8.2f} s   ratio pipeline / peer {wall / peer:.2f}")
        print("  per stage, pipeline vs direct: " + ", ".join(f"{k} {st['stages'][f'eurusd/{k}']['seconds']:.1f} vs {v:.1f} s" for k, v in parts.items()))
        print(f"unchanged re-run (all skip)   {rerun:8.2f} s")
        print(f"10x: output check of {len(recs)} stage records {check10:.3f} s (1x: {check10 / 10:.3f} s)")

        tspec = dict(spec=spec, train=TrainSpec(epochs=1, max_steps_per_epoch=steps, cnn_channels=ch, lstm_hidden=hid, patience=0), evaluation=ev)
        t0 = time.perf_counter()
        wf_score(ds, trainer_fit_predict(tspec["train"], "cpu", 1), "balanced_accuracy", 3, d / "wf")
        floor = time.perf_counter() - t0
        t0 = time.perf_counter()
        tune_command(pairs="eurusd", n_trials=trials, run_dir=str(d / "tune"), data_dir=str(d / "data"), threads=1, device="cpu",
                     progress=False, final=False, pruning=False, **tspec)
        search = time.perf_counter() - t0
        print(f"tune: {trials} trials, 3 folds x 1 epoch x {steps} steps, no pruning: {search:.1f} s -> {3600 * trials / search:.0f} trials/hour")
        print(f"  one walk-forward score called directly (floor) {floor:.1f} s -> {3600 / floor:.0f}/hour; ratio tune / floor per trial "
              f"{search / trials / floor:.2f}")


if __name__ == "__main__":
    main()
