"""Fixtures shared by the whole suite: repository paths, the MMPose default scope and a loader for the
scripts under ``tools/`` (they are scripts, not a package)."""
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Callable, Dict

import pytest
from mmengine.registry import init_default_scope

REPO = Path(__file__).resolve().parents[1]
# Small real fixtures copied from MMPose's tests/data (see tests/data/README.md); the suite reads nothing
# outside the repository.
TEST_DATA = REPO / 'tests' / 'data'

_TOOLS: Dict[str, ModuleType] = {}


def _load_tool(relpath: str) -> ModuleType:
    """Import ``tools/...py`` by its path (once per session), e.g. ``'tools/analysis/run_ablations.py'``."""
    if relpath not in _TOOLS:
        path = REPO / relpath
        name = path.stem
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules.setdefault(name, module)  # dataclasses and pickling look the module up by name
        spec.loader.exec_module(module)
        _TOOLS[relpath] = module
    return _TOOLS[relpath]


@pytest.fixture(scope='session')
def load_tool() -> Callable[[str], ModuleType]:
    """``load_tool('tools/analysis/eval_posetrack.py')`` -> the imported script."""
    return _load_tool


@pytest.fixture
def mmpose_scope():
    """Build from MMPose's registries (as ``default_scope = 'mmpose'`` does in a config)."""
    init_default_scope('mmpose')


@pytest.fixture(scope='session')
def posetrack18_fixture() -> Path:
    """MMPose's real PoseTrack18 test data, ``tests/data/posetrack18``: 3 labelled val frames of 3 videos
    (images, ``annotations/test_posetrack18_val.json``, the per-video GT files ``annotations/val/`` and
    detections), without neighbouring frames."""
    return TEST_DATA / 'posetrack18'


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory) -> Path:
    """A small synthetic PoseTrack18-layout dataset (seed 0, 2 train + 2 val videos, 320x240)."""
    from diffpose_mm.testing import make_synthetic_posetrack
    root = tmp_path_factory.mktemp('synthetic_posetrack18')
    make_synthetic_posetrack(str(root), seed=0, num_train_videos=2, num_val_videos=2)
    return root
