from .inferencers import VideoPoseInferencer, load_video_pose_config
from .person_boxes import DetectionFileBoxes, MMDetPersonDetector
from .person_tracks import IoUPersonTracker
from .posetrack_predictions import instance_scores, oks_suppress, write_video_predictions
from .video_frames import VideoFrames

__all__ = [
    'VideoPoseInferencer', 'load_video_pose_config', 'DetectionFileBoxes', 'MMDetPersonDetector', 'IoUPersonTracker',
    'instance_scores', 'oks_suppress', 'write_video_predictions', 'VideoFrames'
]
