from .video_pose_inferencer import VideoPoseInferencer, load_video_pose_config

__all__ = ['VideoPoseInferencer', 'load_video_pose_config']
