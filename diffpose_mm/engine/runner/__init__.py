from .sampling_sweep_test_loop import SamplingSweepTestLoop

__all__ = ['SamplingSweepTestLoop']
