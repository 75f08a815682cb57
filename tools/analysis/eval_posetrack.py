"""Per-joint PoseTrack AP of existing prediction files, without the ``poseval`` package.

Computes what ``python -m poseval.evaluate -g GT_DIR -p PRED_DIR -e`` reports (see
``diffpose_mm/evaluation/functional/posetrack_ap.py``) for prediction files of this project or of any
other method: one file per GT file, same name, same frames, PoseTrack18/21 or PoseTrack17 layout.

Example::

    python tools/analysis/eval_posetrack.py data/posetrack18/annotations/val \\
        work_dirs/exp/results.posetrack --out work_dirs/exp/posetrack_ap.json
"""
import argparse
import json
import math
import sys
from typing import List, Optional

from diffpose_mm.evaluation.functional import evaluate_posetrack_dir, format_posetrack_table


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('gt_dir', help='folder of the official per-video GT json files')
    parser.add_argument('pred_dir', help='folder of the prediction json files (same file names)')
    parser.add_argument('--out', help='write {Head, Shoulder, ..., Ankle, Total} (AP in %%) to this json')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        summary = evaluate_posetrack_dir(args.gt_dir, args.pred_dir)
    except (OSError, ValueError) as e:  # the messages name the offending file
        print(f'eval_posetrack.py: error: {e}', file=sys.stderr)
        return 1
    print(format_posetrack_table(summary))
    if args.out:
        with open(args.out, 'w') as f:  # NaN (a joint never annotated) -> null, valid json
            json.dump({k: None if math.isnan(v) else v for k, v in summary.items()}, f, indent=2)
        print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
