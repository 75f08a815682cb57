#!/usr/bin/env bash
# The main jobs end to end on the bundled synthetic data (called by `make demo`; 8-11 minutes on 2 cores):
#   2d     generate the synthetic PoseTrack18-layout videos (seed 0), train the tiny DiffPose config with
#          tools/train.py, test it with tools/test.py (per-joint PoseTrack AP table and COCO AP);
#   video  render one synthetic val clip with that model through VideoPoseInferencer (tools/demo_video.sh):
#          annotated mp4, PoseTrack18 prediction json, docs/images/video_demo_frame.png;
#   3d     generate the synthetic Human3.6M-layout data (seed 0), train and test the tiny DiffPose-3D config,
#          print its MPJPE / P-MPJPE / N-MPJPE table (mm).
# Usage: tools/demo.sh [PY] [PART ...]   (default: .venv/bin/python 2d video 3d)
set -euo pipefail
PY=${1:-.venv/bin/python}
shift || true
PARTS=${*:-2d video 3d}

# train CONFIG on the data it names, test the last checkpoint; sets CKPT, writes $WORK/test.log
train_and_test() {
    local config=$1
    WORK=work_dirs/$(basename "$config" .py)
    rm -rf "$WORK"
    # no validation at the end of training: the test right after it evaluates the same checkpoint
    "$PY" tools/train.py "$config" --work-dir "$WORK" --cfg-options train_cfg.val_begin=1000000
    CKPT=$(ls -t "$WORK"/epoch_*.pth | head -n 1)
    "$PY" tools/test.py "$config" "$CKPT" --work-dir "$WORK/test" 2>&1 | tee "$WORK/test.log"
}

CONFIG_2D=configs/diffpose/td-diffpose_res18-tiny_1xb16-18e_synthetic-128x96.py
DATA_2D=data/synthetic_posetrack18
if [[ " $PARTS " == *" 2d "* ]]; then
    "$PY" tools/dataset_converters/make_synthetic_posetrack.py --out "$DATA_2D" --seed 0
    train_and_test "$CONFIG_2D"
    SUMMARY_2D="DiffPose (tiny) on the synthetic val videos, $CKPT (full log: $WORK/test.log)
PoseTrack AP (%), per joint:
$(grep -A 2 'PoseTrack AP (' "$WORK/test.log" | tail -n 2)
$(grep -o 'coco/AP: [0-9.]*' "$WORK/test.log" | tail -n 1)"
fi

if [[ " $PARTS " == *" video "* ]]; then
    WORK=work_dirs/$(basename "$CONFIG_2D" .py)
    CKPT=$(ls -t "$WORK"/epoch_*.pth | head -n 1)
    bash tools/demo_video.sh "$PY" "$CONFIG_2D" "$CKPT" "$DATA_2D" "$WORK/video_demo"
    SUMMARY_VIDEO="Video inference: $WORK/video_demo/visualizations/*.mp4, predictions/*.json, docs/images/video_demo_frame.png"
fi

if [[ " $PARTS " == *" 3d "* ]]; then
    "$PY" tools/dataset_converters/make_synthetic_h36m.py --out data/synthetic_h36m --seed 0
    train_and_test configs/diffpose3d/diffpose3d_tcn-1frm_1xb256-8e_synthetic-h36m.py
    SUMMARY_3D="DiffPose-3D (tiny) on the synthetic Human3.6M-layout test split, $CKPT (full log: $WORK/test.log)
$("$PY" tools/analysis/mpjpe_table.py "$WORK/test.log")"
fi

echo
for summary in "${SUMMARY_2D:-}" "${SUMMARY_VIDEO:-}" "${SUMMARY_3D:-}"; do
    [ -n "$summary" ] && printf '%s\n\n' "$summary"
done
