from .stop_on_non_finite_loss_hook import StopOnNonFiniteLossHook

__all__ = ['StopOnNonFiniteLossHook']
