"""diffpose_mm: DiffPose for MMPose 1.x.

Importing this package registers every module into MMPose's registries, so a config needs only
``custom_imports = dict(imports=['diffpose_mm'], allow_failed_imports=False)``.
"""
# registers the modules configs name; `diffpose_mm.apis` (the video inferencer, which pulls in mmdet through
# MMPose's inferencer base) and `diffpose_mm.testing` are imported on demand, as MMPose does with `mmpose.apis`
from . import datasets, engine, evaluation, models, visualization  # noqa: F401

__version__ = '0.1.0'
