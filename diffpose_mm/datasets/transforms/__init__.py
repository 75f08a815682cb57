from .loading import LoadVideoFrames

__all__ = ['LoadVideoFrames']
