"""Train with MMPose's own ``tools/train.py``, diffpose_mm registered, checkpoints loaded with an allowlist and
CPU-only distributed runs working (see ``diffpose_mm/engine/launch.py``).

Used by ``mim train diffpose_mm CONFIG`` (shipped as ``diffpose_mm/.mim/tools/train.py``), ``tools/dist_train.sh`` and
directly: ``python tools/train.py -h`` lists MMPose's arguments.
"""
import diffpose_mm  # noqa: F401  (registers the DiffPose modules)
from diffpose_mm.engine.launch import run_mmpose_tool

if __name__ == '__main__':
    run_mmpose_tool('train')
