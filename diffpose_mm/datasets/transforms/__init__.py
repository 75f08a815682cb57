from .load_keypoint_gmm import LoadKeypointGMM  # noqa: F401  (DiffPose-3D, issue 9)
from .loading import LoadVideoFrames

__all__ = ['LoadVideoFrames']
