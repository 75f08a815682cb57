#!/usr/bin/env bash
# Video inference demo (the `video` part of tools/demo.sh, i.e. `make demo`): render one synthetic val clip with the trained
# tiny model through VideoPoseInferencer (demo/video_demo.py), boxes from the dataset's detection file:
#   OUT_DIR/visualizations/<video>.mp4   annotated video (spread rings, score fading, legend, track ids)
#   OUT_DIR/predictions/<video>.json     PoseTrack18 predictions (tools/analysis/eval_posetrack.py reads them)
#   docs/images/video_demo_frame.png     one annotated frame, for the README
# Usage: tools/demo_video.sh PY CONFIG CKPT DATA_ROOT OUT_DIR   (VIDEO, FRAME, PNG override the clip and frame)
set -euo pipefail
if [ "$#" -ne 5 ]; then
    echo "usage: $0 PY CONFIG CKPT DATA_ROOT OUT_DIR" >&2
    exit 2
fi
PY=$1
CONFIG=$2
CKPT=$3
DATA=$4
OUT=$5
VIDEO=${VIDEO:-200003_synth_val}  # two people, occluded key frames 0, 8 and 24
FRAME=${FRAME:-8}                 # a labelled (detected) frame with an occluder
PNG=${PNG:-docs/images/video_demo_frame.png}

"$PY" demo/video_demo.py "$CONFIG" "$CKPT" --inputs "$DATA/images/val/$VIDEO" \
    --bbox-file "$DATA/annotations/posetrack18_val_human_detections.json" \
    --output-root "$OUT" --fps 5 --radius 3 --save-frame "$FRAME" "$PNG" --no-progress
