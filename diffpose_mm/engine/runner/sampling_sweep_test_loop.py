"""A test loop that evaluates several sampling settings of a diffusion head in one run (paper Tables 6/7)."""
import numbers
import os.path as osp
from typing import Dict, List, Mapping, Sequence, Tuple, Union

from mmengine.dist import is_main_process
from mmengine.fileio import dump
from mmengine.model import is_model_wrapper
from mmengine.runner import TestLoop
from mmengine.runner.loops import _parse_losses
from mmpose.registry import LOOPS

from ...models.diffusion.sampling_cfg import SAMPLING_KEYS, parse_sampling_cfg
from ...utils.table import render_table

SweepEntry = Union[Sequence[int], Mapping[str, Union[int, float, None]]]


@LOOPS.register_module()
class SamplingSweepTestLoop(TestLoop):
    """:class:`TestLoop` that runs one test epoch per sampling setting of a diffusion head.

    The settings are the keys of :data:`SAMPLING_KEYS` (``num_noise_groups``, ``sampling_steps``, ``eta``,
    ``seed``) in the model's ``test_cfg``, the one dict the estimator passes to ``head.predict`` (and that
    :class:`VideoTopdownPoseEstimator` shares with its head). A single setting needs no loop: set it in
    ``model.test_cfg`` (``--cfg-options model.test_cfg.num_noise_groups=1``).

    ``before_test`` and ``after_test`` hooks run once. Each setting is one test epoch: it is written into
    ``model.test_cfg``, then the dataloader and evaluator run between ``before_test_epoch`` and
    ``after_test_epoch`` hooks (so LoggerHook logs every setting's metrics and EMAHook swaps weights around
    each pass), and its metrics are logged as one row. Per-epoch outputs that only keep the last epoch
    (LoggerHook's ``<timestamp>.json``, ``tools/test.py --out``) hold the last setting. At the end a table of
    all settings is logged and written to ``<log_dir>/diffusion_sampling_sweep.json`` (a list of
    ``{settings, metrics}``), ``model.test_cfg`` gets its own values back, and the first setting's metrics
    are returned.

    Args:
        runner (Runner): A reference of runner.
        dataloader (Dataloader or dict): The test dataloader.
        evaluator (Evaluator or dict or list): The test evaluator.
        sweep (Sequence): Settings to test, in this order; each ``(num_noise_groups, sampling_steps)`` or a
            dict with keys among :data:`SAMPLING_KEYS`. Keys an entry leaves out keep the values of the
            model's ``test_cfg``.
        fp16 (bool): Whether to enable fp16 testing. Defaults to False.

    Example:
        >>> test_cfg = dict(type='SamplingSweepTestLoop', sweep=[(10, 4), (5, 4), (1, 4), (10, 2), (10, 1)])
    """

    def __init__(self, runner, dataloader, evaluator, sweep: Sequence[SweepEntry], fp16: bool = False) -> None:
        self.sweep = parse_sweep(sweep)  # before the dataloader is built: a typo fails fast
        super().__init__(runner, dataloader, evaluator, fp16)
        self.results: List[Tuple[dict, dict]] = []

    def run(self) -> dict:
        """Test every setting of ``sweep``; returns the metrics of the first."""
        model = self.runner.model.module if is_model_wrapper(self.runner.model) else self.runner.model
        test_cfg = getattr(model, 'test_cfg', None)
        if not isinstance(test_cfg, dict):
            raise TypeError(f'SamplingSweepTestLoop needs a model with a `test_cfg` dict (e.g. an MMPose pose '
                            f'estimator), got {type(model).__name__}.test_cfg = {test_cfg!r}')
        own = {k: test_cfg[k] for k in SAMPLING_KEYS if k in test_cfg}
        self.results = []
        self.runner.call_hook('before_test')
        try:
            for entry in self.sweep:
                settings = {**own, **entry}  # keys set by one entry (e.g. eta) do not leak into the next
                _write(test_cfg, settings)
                self._record(settings, self._run_epoch())
        finally:
            _write(test_cfg, own)
        self._log_table()
        self.runner.call_hook('after_test')
        return self.results[0][1]

    def _run_epoch(self) -> dict:
        """One test epoch: :meth:`TestLoop.run` without its ``before_test``/``after_test`` hooks."""
        self.runner.call_hook('before_test_epoch')
        self.runner.model.eval()
        self.test_loss.clear()
        for idx, data_batch in enumerate(self.dataloader):
            self.run_iter(idx, data_batch)
        metrics = self.evaluator.evaluate(len(self.dataloader.dataset))
        if self.test_loss:
            metrics.update(_parse_losses(self.test_loss, 'test'))
        self.runner.call_hook('after_test_epoch', metrics=metrics)
        return metrics

    def _record(self, settings: dict, metrics: dict) -> None:
        self.results.append((dict(settings), dict(metrics)))
        row = ', '.join(f'{k}: {_fmt(v)}' for k, v in metrics.items())
        self.runner.logger.info(f'SamplingSweepTestLoop [{_setting_str(settings)}] {row}')

    def _log_table(self) -> None:
        keys = [k for k, v in self.results[0][1].items() if isinstance(v, numbers.Real)]
        header = ['setting'] + keys
        rows = [[_setting_str(s)] + [_fmt(m.get(k, float('nan'))) for k in keys] for s, m in self.results]
        table = render_table(header, rows, markdown=False)
        self.runner.logger.info('SamplingSweepTestLoop sweep results:\n' + table)
        if is_main_process():
            dump([dict(settings=s, metrics={k: float(m[k])
                                            for k in keys if k in m}) for s, m in self.results],
                 osp.join(self.runner.log_dir, 'diffusion_sampling_sweep.json'))


def parse_sweep(sweep: Sequence[SweepEntry]) -> List[Dict[str, Union[int, float, None]]]:
    """``sweep`` as a list of setting dicts, each checked by :func:`parse_sampling_cfg`.

    Raises:
        ValueError: for an empty sweep, or naming the entry that is not ``(N, steps)`` or a dict with keys among
            :data:`SAMPLING_KEYS`, or whose values are invalid.
    """
    if not sweep or isinstance(sweep, (str, Mapping)):
        raise ValueError(f'SamplingSweepTestLoop: `sweep` must be a non-empty list of settings, e.g. '
                         f'sweep=[(10, 4), (1, 4)], got {sweep!r}')
    entries = []
    for entry in sweep:
        if isinstance(entry, Mapping):
            unknown = set(entry) - set(SAMPLING_KEYS)
            if unknown:
                raise ValueError(f'SamplingSweepTestLoop: sweep entry {entry!r} has unknown keys '
                                 f'{sorted(unknown)}; allowed: {SAMPLING_KEYS}')
            settings = dict(entry)
        elif isinstance(entry, (list, tuple)) and len(entry) == 2:
            settings = dict(num_noise_groups=entry[0], sampling_steps=entry[1])
        else:
            raise ValueError(f'SamplingSweepTestLoop: sweep entries must be (num_noise_groups, sampling_steps) or '
                             f'dicts with keys among {SAMPLING_KEYS}, got {entry!r}')
        parse_sampling_cfg(settings, owner=f'SamplingSweepTestLoop sweep entry {entry!r}')
        entries.append(settings)
    return entries


def _write(test_cfg: dict, settings: dict) -> None:
    """Make the sampling keys of ``test_cfg`` exactly ``settings`` (other keys untouched)."""
    for key in SAMPLING_KEYS:
        if key in settings:
            test_cfg[key] = settings[key]
        else:
            test_cfg.pop(key, None)


def _setting_str(settings: dict) -> str:
    short = dict(num_noise_groups='N', sampling_steps='steps', eta='eta', seed='seed')
    return ' '.join(f'{short[k]}={settings[k]}' for k in SAMPLING_KEYS if k in settings)


def _fmt(value) -> str:
    return f'{value:.4f}' if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral) else str(value)
