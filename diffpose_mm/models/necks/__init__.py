from .strl_neck import STRLNeck

__all__ = ['STRLNeck']
