#!/usr/bin/env bash
# The main job, end to end on the shipped EURUSD sample (offline): set up the environment, then prepare the dataset
# and write its summary. Outputs land in runs/quickstart/.
source "$(dirname "$0")/env.sh"
OUT="${SFX_OUT:-runs/quickstart}"
mkdir -p "$OUT"
echo "[quickstart] sfx-prepare on the EURUSD sample -> $OUT/data"
sfx-prepare --pairs eurusd --t-in 120 --t-out 10 --task-type classification --data-dir "$OUT/data"
echo "[quickstart] done: dataset in $OUT/data/eurusd (frame.parquet, meta.json), split timeline in $OUT/data/eurusd/summary.html"
