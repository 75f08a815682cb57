from .diffpose_head import DiffPoseHead

__all__ = ['DiffPoseHead']
