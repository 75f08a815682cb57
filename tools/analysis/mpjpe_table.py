"""Print the MPJPE / P-MPJPE / N-MPJPE table (mm, per action and all) of a lifting test log.

Reads the last ``Epoch(test)`` line that MMEngine's logger wrote for MMPose's ``MPJPE`` metric (metres, keys
``MPJPE``, ``MPJPE_<action>``, ...), e.g. the ``test.log`` of ``tools/demo.sh``::

    python tools/analysis/mpjpe_table.py work_dirs/NAME/test.log
"""
import argparse
import re
import sys
from typing import Dict, List, Optional

from diffpose_mm.utils import render_table

METRICS = ('MPJPE', 'P-MPJPE', 'N-MPJPE')


def read_metrics(log_file: str) -> Dict[str, float]:
    """Metrics (mm) of the last ``Epoch(test)`` line of ``log_file`` whose name starts with one of
    :data:`METRICS`."""
    with open(log_file) as f:
        lines = [line for line in f if 'Epoch(test)' in line]
    if not lines:
        raise ValueError(f'{log_file}: no "Epoch(test)" line; is it the log of tools/test.py on a lifting config?')
    found = re.findall(r'([\w-]+): (-?[0-9.]+(?:e-?[0-9]+)?)', lines[-1].split('Epoch(test)', 1)[1])
    metrics = {k: float(v) * 1000 for k, v in found if k.split('_')[0] in METRICS}
    if 'MPJPE' not in metrics:
        raise ValueError(f'{log_file}: the last test line has no MPJPE (keys: {[k for k, _ in found]})')
    return metrics


def mpjpe_table(metrics: Dict[str, float]) -> str:
    """One row per metric, one column per action (sorted) and ``All``."""
    actions = sorted({k.split('_', 1)[1] for k in metrics if '_' in k})
    rows = [[m] + [f'{metrics.get(f"{m}_{a}", float("nan")):.1f}' for a in actions] + [f'{metrics[m]:.1f}']
            for m in METRICS if m in metrics]
    return render_table(['(mm)'] + actions + ['All'], rows, align='l' + 'r' * (len(actions) + 1))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('log_file', help='log of tools/test.py')
    args = parser.parse_args(argv)
    print(mpjpe_table(read_metrics(args.log_file)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
