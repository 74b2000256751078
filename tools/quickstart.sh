#!/usr/bin/env bash
# The main job, end to end on the shipped EURUSD sample (offline): set up the environment, then
# prepare the dataset once -> train the CNN-BiLSTM-attention model on that dataset -> evaluate it against baselines,
# net of costs, audited -> report. Everything lands in runs/quickstart/ (SFX_OUT overrides).
source "$(dirname "$0")/env.sh"
OUT="${SFX_OUT:-runs/quickstart}"
mkdir -p "$OUT"
echo "[quickstart] 1/3 sfx-prepare: EURUSD sample -> $OUT/data"
sfx-prepare --pairs eurusd --t-in 64 --t-out 10 --task-type classification --data-dir "$OUT/data"
KEY="$(cut -c1-12 "$OUT/data/eurusd/LATEST")"
echo "[quickstart] 2/3 sfx-train on dataset $KEY -> $OUT/runs/eurusd"
sfx-train --pairs eurusd --dataset "$KEY" --epochs 10 --batch-size 64 --learning-rate 1e-3 --data-dir "$OUT/data" --run-dir "$OUT/runs"
echo "[quickstart] 3/3 sfx-evaluate (on the checkpoint's own dataset, $KEY) -> $OUT/reports/eurusd"
sfx-evaluate --pairs eurusd --checkpoint-path "$OUT/runs/{pair}/best_model.pt" --spread-pips 1.0 --data-dir "$OUT/data" --report-dir "$OUT/reports"
echo "[quickstart] done:"
echo "  dataset   $OUT/data/eurusd/$KEY/ (frame.parquet, meta.json with its dataset_spec, summary.html)"
echo "  model     $OUT/runs/eurusd (best_model.pt, config.json with the dataset key, metrics.jsonl, training_curves.png)"
echo "  report    $OUT/reports/eurusd/report.html (verdict, audit, metrics, backtest; works offline), metrics.json"
