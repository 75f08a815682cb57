#!/usr/bin/env bash
# The main job end to end on the bundled default (called by `make demo`):
#   1. generate the synthetic PoseTrack18-layout video dataset (deterministic, seed 0),
#   2. train the tiny DiffPose config with tools/train.py (MMPose's train script, diffpose_mm registered),
#   3. test the last checkpoint with tools/test.py, which prints the per-joint PoseTrack AP table and COCO AP.
set -euo pipefail
PY=${1:-.venv/bin/python}
CONFIG=configs/diffpose/td-diffpose_res18-tiny_1xb16-18e_synthetic-128x96.py
DATA=data/synthetic_posetrack18
WORK=work_dirs/td-diffpose_res18-tiny_1xb16-18e_synthetic-128x96

"$PY" tools/dataset_converters/make_synthetic_posetrack.py --out "$DATA" --seed 0
rm -rf "$WORK"
"$PY" tools/train.py "$CONFIG" --work-dir "$WORK"
CKPT=$(ls -t "$WORK"/epoch_*.pth | head -n 1)
"$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK/test" 2>&1 | tee "$WORK/test.log"
echo
echo "DiffPose (tiny) on the synthetic val videos, $CKPT (full log: $WORK/test.log)"
echo "PoseTrack AP (%), per joint:"
grep -A 2 'PoseTrack AP (' "$WORK/test.log" | tail -n 2
grep -o 'coco/AP: [0-9.]*' "$WORK/test.log" | tail -n 1
