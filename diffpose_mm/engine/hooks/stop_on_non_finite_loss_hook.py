"""Stop training at the first non-finite loss, naming the iteration and the loss terms."""
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmpose.registry import HOOKS


@HOOKS.register_module()
class StopOnNonFiniteLossHook(Hook):
    """Raise ``FloatingPointError`` after the first training iteration whose loss is NaN or infinite.

    Without it a diverged run goes on writing NaN weights into its checkpoints. mmdet's ``CheckInvalidLossHook``
    checks every 50 iterations by default and names neither the iteration nor the loss term; this hook checks
    every iteration (one ``isfinite`` per loss term) and runs before ``CheckpointHook`` (higher priority), so the
    checkpoints already on disk stay the last good ones.

    Example:
        >>> custom_hooks = [dict(type='StopOnNonFiniteLossHook')]
    """

    priority = 'ABOVE_NORMAL'

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs: Optional[dict] = None) -> None:
        bad = {
            key: float(value.detach().float().mean())
            for key, value in (outputs or {}).items()
            if 'loss' in key and isinstance(value, torch.Tensor) and not torch.isfinite(value).all()
        }
        if bad:
            raise FloatingPointError(
                f'non-finite loss at iteration {runner.iter + 1} (epoch {runner.epoch + 1}, batch {batch_idx + 1}): '
                f'{bad}. Training stopped; the checkpoints in {runner.work_dir} are from before this iteration '
                '(lower the learning rate or check the data, then --resume).')
