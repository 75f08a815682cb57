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
