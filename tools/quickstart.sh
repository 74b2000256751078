#!/usr/bin/env bash
# The main job, end to end on the shipped EURUSD sample (offline): set up the environment, then
# prepare the dataset -> train the CNN-BiLSTM-attention model -> evaluate it against baselines, net of costs -> report.
# Everything lands in runs/quickstart/ (SFX_OUT overrides).
source "$(dirname "$0")/env.sh"
OUT="${SFX_OUT:-runs/quickstart}"
mkdir -p "$OUT"
echo "[quickstart] 1/3 sfx-prepare: EURUSD sample -> $OUT/data"
sfx-prepare --pairs eurusd --t-in 64 --t-out 10 --task-type classification --data-dir "$OUT/data"
echo "[quickstart] 2/3 sfx-train -> $OUT/runs/eurusd"
sfx-train --pairs eurusd --t-in 64 --t-out 10 --epochs 10 --batch-size 64 --learning-rate 1e-3 --data-dir "$OUT/data" --run-dir "$OUT/runs"
echo "[quickstart] 3/3 sfx-evaluate -> $OUT/reports/eurusd"
sfx-evaluate --pairs eurusd --checkpoint-path "$OUT/runs/{pair}/best_model.pt" --spread-pips 1.0 --data-dir "$OUT/data" --report-dir "$OUT/reports"
echo "[quickstart] done:"
echo "  dataset   $OUT/data/eurusd/<key>/ (frame.parquet, meta.json, summary.html; LATEST names the key)"
echo "  model     $OUT/runs/eurusd (best_model.pt, metrics.jsonl, training_curves.png)"
echo "  report    $OUT/reports/eurusd/report.html (open it in a browser; it works offline), metrics.json"
