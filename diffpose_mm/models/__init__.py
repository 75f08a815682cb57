from . import backbones  # noqa: F401  (DiffPose-3D context encoder, issue 9)
from . import data_preprocessors, diffusion, heads, necks, pose_estimators  # noqa: F401
