from .uncertainty_visualizer import UncertaintyPoseVisualizer

__all__ = ['UncertaintyPoseVisualizer']
