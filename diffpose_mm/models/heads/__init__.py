from .diffpose3d_head import DiffPose3DHead  # noqa: F401  (issue 9; registers PoseGraphDenoiser too)
from .diffpose_head import DiffPoseHead

__all__ = ['DiffPoseHead']
