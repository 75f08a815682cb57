#!/usr/bin/env bash
# DiffPose-3D end to end on the bundled synthetic Human3.6M-layout data (the 3D part of `make demo`):
#   1. generate the synthetic data (deterministic, seed 0; MMPose's data/h36m layout, with 2D detections and
#      their per-joint Gaussian mixtures),
#   2. train the tiny DiffPose-3D config with tools/train.py (MMPose's train script, diffpose_mm registered),
#   3. test the last checkpoint with tools/test.py and print the MPJPE table (mm) from MMPose's MPJPE metric.
set -euo pipefail
PY=${1:-.venv/bin/python}
NAME=diffpose3d_tcn-1frm_1xb256-8e_synthetic-h36m
CONFIG=configs/diffpose3d/$NAME.py
DATA=data/synthetic_h36m
WORK=work_dirs/$NAME

"$PY" tools/dataset_converters/make_synthetic_h36m.py --out "$DATA" --seed 0
rm -rf "$WORK"
"$PY" tools/train.py "$CONFIG" --work-dir "$WORK"
CKPT=$(ls -t "$WORK"/epoch_*.pth | head -n 1)
"$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK/test" 2>&1 | tee "$WORK/test.log"
echo
echo "DiffPose-3D (tiny) on the synthetic Human3.6M-layout test split, $CKPT (full log: $WORK/test.log)"
"$PY" -W ignore - "$WORK/test.log" <<'PYEOF'
import re
import sys

from diffpose_mm.utils import render_table

line = [l for l in open(sys.argv[1]) if 'Epoch(test)' in l][-1]
metrics = {k: float(v) * 1000 for k, v in re.findall(r'([\w-]+): ([0-9.]+)', line.split('Epoch(test)')[1])
           if k.split('_')[0] in ('MPJPE', 'P-MPJPE', 'N-MPJPE')}
actions = sorted({k.split('_', 1)[1] for k in metrics if '_' in k})
rows = [[m] + [f'{metrics[f"{m}_{a}"]:.1f}' for a in actions] + [f'{metrics[m]:.1f}']
        for m in ('MPJPE', 'P-MPJPE', 'N-MPJPE')]
print(render_table(['(mm)'] + actions + ['All'], rows, align='l' + 'r' * (len(actions) + 1)))
PYEOF
