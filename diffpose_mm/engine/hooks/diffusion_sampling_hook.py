"""Set (and sweep) the sampling settings of a diffusion head for validation and test."""
import numbers
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

from mmengine.fileio import dump
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmpose.registry import HOOKS

from ...models.diffusion.sampling_cfg import SAMPLING_KEYS
SweepEntry = Union[Sequence[int], Dict[str, Union[int, float]]]


@HOOKS.register_module()
class DiffusionSamplingHook(Hook):
    """Control the test-time sampling of :class:`DiffPoseHead` (or any head reading the same ``test_cfg`` keys).

    Before every validation and test epoch, the given settings are written into the model's ``test_cfg`` (which
    MMPose passes to ``head.predict``) and into ``head.test_cfg`` (used by ``head.forward``). With ``sweep``, a
    single test run evaluates several ``(num_noise_groups, sampling_steps)`` settings, as in the paper's
    Tables 6 and 7: the first setting runs as the normal test epoch, and after it the hook re-runs
    ``runner.test_loop`` once per remaining setting (a guard stops the nested runs from sweeping again). Each
    setting's metrics are logged as one row, followed by a final table; the rows are kept in ``self.results``
    and written to ``<log_dir>/diffusion_sampling_sweep.json``. The runner's returned metrics are those of the
    first setting.

    Args:
        num_noise_groups (int, optional): Noise groups ``N`` averaged per sample.
        sampling_steps (int, optional): DDIM steps.
        eta (float, optional): DDIM stochasticity.
        seed (int, optional): Seed of the sampling noise.
        sweep (Sequence, optional): Settings to test, each ``(N, steps)`` or a dict with keys among
            ``num_noise_groups``, ``sampling_steps``, ``eta``, ``seed``; they override the single settings above.

    Example:
        >>> custom_hooks = [dict(type='DiffusionSamplingHook', seed=0,
        ...                      sweep=[(10, 4), (5, 4), (1, 4), (10, 2), (10, 1)])]
    """

    priority = 'LOW'  # after LoggerHook, so the first setting's metrics are logged before the re-runs

    def __init__(self,
                 num_noise_groups: Optional[int] = None,
                 sampling_steps: Optional[int] = None,
                 eta: Optional[float] = None,
                 seed: Optional[int] = None,
                 sweep: Optional[Sequence[SweepEntry]] = None) -> None:
        base = dict(num_noise_groups=num_noise_groups, sampling_steps=sampling_steps, eta=eta, seed=seed)
        self.settings = {k: v for k, v in base.items() if v is not None}
        self.sweep = [self._parse_entry(entry) for entry in (sweep or [])]
        self.results: List[Tuple[dict, dict]] = []
        self._sweeping = False
        self._config_values: Optional[dict] = None  # the model's own sampling settings, captured once

    @staticmethod
    def _parse_entry(entry: SweepEntry) -> dict:
        if isinstance(entry, dict):
            unknown = set(entry) - set(SAMPLING_KEYS)
            if unknown:
                raise ValueError(f'DiffusionSamplingHook: sweep entry {entry} has unknown keys {sorted(unknown)}; '
                                 f'allowed: {SAMPLING_KEYS}')
            return dict(entry)
        if isinstance(entry, (list, tuple)) and len(entry) == 2:
            return dict(num_noise_groups=int(entry[0]), sampling_steps=int(entry[1]))
        raise ValueError(f'DiffusionSamplingHook: sweep entries must be (num_noise_groups, sampling_steps) or dicts, '
                         f'got {entry!r}')

    def _apply(self, runner, overrides: Optional[dict] = None) -> dict:
        """Write ``self.settings`` updated by ``overrides`` into the model's and the head's ``test_cfg``.

        Sampling keys that neither sets are reset to the config's own values, so a key set by one sweep entry
        (e.g. ``eta``) does not leak into the next.
        """
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        head = getattr(model, 'head', None)
        if head is None:
            raise RuntimeError('DiffusionSamplingHook needs a model with a diffusion head (e.g. DiffPoseHead) at '
                               '`model.head`')
        if self._config_values is None:
            self._config_values = {k: model.test_cfg[k] for k in SAMPLING_KEYS if k in model.test_cfg}
        settings = {**self._config_values, **self.settings, **(overrides or {})}
        for cfg in (model.test_cfg, head.test_cfg):
            for key in SAMPLING_KEYS:
                if key in settings:
                    cfg[key] = settings[key]
                else:
                    cfg.pop(key, None)
        return settings

    def before_val_epoch(self, runner) -> None:
        self._apply(runner)

    def before_test_epoch(self, runner) -> None:
        if not self._sweeping:  # nested sweep runs set their own settings
            self._apply(runner, self.sweep[0] if self.sweep else None)

    def after_test_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        if self._sweeping or not self.sweep:
            return
        self.results = []
        self._record(runner, self._apply(runner, self.sweep[0]), metrics or {})
        self._sweeping = True
        try:
            for entry in self.sweep[1:]:
                settings = self._apply(runner, entry)
                self._record(runner, settings, runner.test_loop.run())
        finally:
            self._sweeping = False
            self._apply(runner, self.sweep[0])
        self._log_table(runner)

    def _record(self, runner, settings: dict, metrics: dict) -> None:
        self.results.append((dict(settings), dict(metrics)))
        row = ', '.join(f'{k}: {_fmt(v)}' for k, v in metrics.items())
        runner.logger.info(f'DiffusionSamplingHook [{_setting_str(settings)}] {row}')

    def _log_table(self, runner) -> None:
        keys = [k for k, v in self.results[0][1].items() if isinstance(v, numbers.Real)]
        header = ['setting'] + keys
        rows = [[_setting_str(s)] + [_fmt(m.get(k, float('nan'))) for k in keys] for s, m in self.results]
        widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
        lines = ['  '.join(str(c).ljust(w) for c, w in zip(r, widths)) for r in [header] + rows]
        runner.logger.info('DiffusionSamplingHook sweep results:\n' + '\n'.join(lines))
        log_dir = getattr(runner, 'log_dir', None)
        if log_dir:
            dump([dict(settings=s, metrics={k: float(m[k]) for k in keys if k in m}) for s, m in self.results],
                 osp.join(log_dir, 'diffusion_sampling_sweep.json'))


def _setting_str(settings: dict) -> str:
    short = dict(num_noise_groups='N', sampling_steps='steps', eta='eta', seed='seed')
    return ' '.join(f'{short[k]}={settings[k]}' for k in SAMPLING_KEYS if k in settings)


def _fmt(value) -> str:
    return f'{value:.4f}' if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral) else str(value)
