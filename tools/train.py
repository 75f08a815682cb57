"""Train a model with MMPose's own ``tools/train.py``, with diffpose_mm registered.

Used by ``mim train diffpose_mm CONFIG`` (this file ships as ``diffpose_mm/.mim/tools/train.py``) and runnable
directly: ``python tools/train.py CONFIG [--work-dir DIR] [--resume] [--amp] [--cfg-options ...]``.
All arguments are MMPose's; see ``python tools/train.py -h``.
"""
import os.path as osp
import runpy

import mmpose

import diffpose_mm  # noqa: F401  (registers DiffPose modules and the resume fix)

SCRIPT = osp.join(osp.dirname(mmpose.__file__), '.mim', 'tools', 'train.py')

if __name__ == '__main__':
    if not osp.isfile(SCRIPT):
        raise FileNotFoundError(
            f'MMPose training script not found at {SCRIPT}: install mmpose from its wheel '
            '(pip install mmpose==1.3.2 --no-deps), not in editable mode.')
    runpy.run_path(SCRIPT, run_name='__main__')
