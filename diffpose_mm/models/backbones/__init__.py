from .context_encoder import DiffPoseContextEncoder, LiftingContext

__all__ = ['DiffPoseContextEncoder', 'LiftingContext']
