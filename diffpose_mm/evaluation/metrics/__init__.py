from .posetrack_metric import PoseTrackMetric

__all__ = ['PoseTrackMetric']
