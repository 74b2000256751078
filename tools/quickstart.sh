#!/usr/bin/env bash
# The main job, end to end on the shipped EURUSD sample (offline): set up the environment, then one sfx-pipeline run:
# prepare the dataset once -> train the CNN-BiLSTM-attention model -> train the multi-task model -> train an A3C agent on
# the frozen encoder -> evaluate each against baselines, net of costs, audited -> index.html linking every report.
# Everything lands in runs/quickstart/ (SFX_OUT overrides). Run it again: finished stages are skipped.
source "$(dirname "$0")/env.sh"
OUT="${SFX_OUT:-runs/quickstart}"
export OMP_WAIT_POLICY=PASSIVE
sfx-pipeline --pairs eurusd --t-in 64 --epochs 10 --multitask --run-rl-training --rl-env-mode backtesting --rl-num-workers 2 \
  --rl-total-steps 10000 --run-dir "$OUT" --data-dir "$OUT/data" "$@"
echo "[quickstart] done:"
echo "  index     $OUT/index.html (headline numbers with intervals and the audit per model; links to every report)"
echo "  stages    $OUT/train/eurusd, $OUT/multitask/eurusd, $OUT/rl/eurusd, $OUT/evaluate/eurusd (status.json says what ran)"
