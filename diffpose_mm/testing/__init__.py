"""Helpers for tests, demos and smoke runs (as ``mmpose.testing``); not imported by ``import diffpose_mm``."""
from .synthetic_h36m import make_synthetic_h36m
from .synthetic_posetrack import make_synthetic_posetrack

__all__ = ['make_synthetic_posetrack', 'make_synthetic_h36m']
