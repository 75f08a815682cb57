"""Test a model with MMPose's own ``tools/test.py``, with diffpose_mm registered.

Used by ``mim test diffpose_mm CONFIG --checkpoint CKPT`` (this file ships as ``diffpose_mm/.mim/tools/test.py``) and runnable
directly: ``python tools/test.py CONFIG CKPT [--work-dir DIR] [--show-dir DIR] [--cfg-options ...]``.
All arguments are MMPose's; see ``python tools/test.py -h``.
"""
import os.path as osp
import runpy

import mmpose

import diffpose_mm  # noqa: F401  (registers DiffPose modules and the resume fix)

SCRIPT = osp.join(osp.dirname(mmpose.__file__), '.mim', 'tools', 'test.py')

if __name__ == '__main__':
    if not osp.isfile(SCRIPT):
        raise FileNotFoundError(
            f'MMPose test script not found at {SCRIPT}: install mmpose from its wheel '
            '(pip install mmpose==1.3.2 --no-deps), not in editable mode.')
    runpy.run_path(SCRIPT, run_name='__main__')
