from . import transforms  # noqa: F401
from .checked_h36m_dataset import CheckedHuman36mDataset  # noqa: F401  (DiffPose-3D, issue 9)
from .posetrack_format import load_posetrack_annotations, load_posetrack_json
from .posetrack_video_dataset import PoseTrackVideoDataset, support_frame_indices

__all__ = ['PoseTrackVideoDataset', 'load_posetrack_annotations', 'load_posetrack_json', 'support_frame_indices']
