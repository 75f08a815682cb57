from . import transforms  # noqa: F401
from .posetrack_video_dataset import (PoseTrackVideoDataset, load_posetrack_annotations,
                                      load_posetrack_json, support_frame_indices)
from .synthetic_posetrack import make_synthetic_posetrack

__all__ = [
    'PoseTrackVideoDataset', 'load_posetrack_annotations', 'load_posetrack_json',
    'support_frame_indices',
    'make_synthetic_posetrack'
]
