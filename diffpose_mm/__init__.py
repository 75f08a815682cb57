"""diffpose_mm: DiffPose for MMPose 1.x.

Importing this package registers every module into MMPose's registries, so a config needs only
``custom_imports = dict(imports=['diffpose_mm'], allow_failed_imports=False)``.
"""
from . import (  # noqa: F401,E501
    apis, datasets, engine, evaluation, models, visualization)

__version__ = '0.1.0'
