import argparse
import json
import uuid
from pathlib import Path
from unittest.mock import Mock

import pytest
import torch
from mmengine.config import Config, DictAction
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmpose.registry import HOOKS, METRICS, MODELS
from torch import nn
from torch.utils.data import Dataset

import diffpose_mm  # noqa: F401  (registers the modules)
from diffpose_mm.engine.runner import SamplingSweepTestLoop


@pytest.fixture(autouse=True)
def mmpose_scope():
    """Build from MMPose's registries whatever default scope earlier tests left behind."""
    with DefaultScope.overwrite_default_scope('mmpose'):
        yield


class ToySet(Dataset):
    metainfo = dict()

    def __len__(self):
        return 4

    def __getitem__(self, idx):
        return dict(inputs=torch.tensor([float(idx)]), data_samples=idx)


@MODELS.register_module(force=True)
class _ToySamplingModel(BaseModel):
    """Its test output is the sampling settings in test_cfg, read the way MMPose's estimators pass them on."""

    def __init__(self, test_cfg=None):
        super().__init__()
        self.linear = nn.Linear(1, 1)
        self.test_cfg = test_cfg if test_cfg is not None else dict(flip_test=True, num_noise_groups=1, sampling_steps=1,
                                                                   seed=1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        cfg = self.test_cfg
        return [
            dict(n=cfg['num_noise_groups'], steps=cfg['sampling_steps'], eta=cfg.get('eta', -1.), seed=cfg.get('seed'))
            for _ in data_samples
        ]


@MODELS.register_module(force=True)
class _NoTestCfgModel(BaseModel):

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return list(data_samples)


@METRICS.register_module(force=True)
class _ToySamplingMetric(BaseMetric):
    """'score' is a known function of N and steps; 'eta' and 'seed' show what the model saw."""
    default_prefix = 'toy'

    def process(self, data_batch, data_samples):
        self.results.extend(data_samples)

    def compute_metrics(self, results):
        return dict(
            score=float(sum(r['n'] * 10 + r['steps'] for r in results)) / len(results), eta=float(results[0]['eta']),
            seed=results[0]['seed'])


@HOOKS.register_module(force=True)
class _CountingHook(Hook):
    """Records the test hook calls, with the setting the model holds at each epoch."""

    def __init__(self):
        self.calls = []

    def before_test(self, runner):
        self.calls.append('before_test')

    def before_test_epoch(self, runner):
        self.calls.append(('before_test_epoch', runner.model.test_cfg['num_noise_groups']))

    def after_test_epoch(self, runner, metrics=None):
        self.calls.append(('after_test_epoch', metrics['toy/score']))

    def after_test(self, runner):
        self.calls.append('after_test')


def make_runner(tmp_path, test_cfg, model=None):
    return Runner(
        model=model or dict(type='_ToySamplingModel'), work_dir=str(tmp_path),
        test_dataloader=dict(dataset=ToySet(), sampler=dict(type='DefaultSampler', shuffle=False), batch_size=2,
                             collate_fn=dict(type='default_collate'),
                             num_workers=0), test_evaluator=dict(type='_ToySamplingMetric'), test_cfg=test_cfg,
        custom_hooks=[dict(type='_CountingHook')], default_scope='mmpose',
        experiment_name=f'test_sampling_sweep_{uuid.uuid4().hex}')  # a unique DefaultScope instance


def test_sweep_runs_one_test_epoch_per_setting(tmp_path):
    sweep = [(10, 4), (5, 4), (1, 4), dict(num_noise_groups=10, sampling_steps=1, eta=0.0, seed=5)]
    runner = make_runner(tmp_path, dict(type='SamplingSweepTestLoop', sweep=sweep))
    model_cfg = runner.model.test_cfg
    own = dict(model_cfg)
    info = Mock(wraps=runner.logger.info)
    runner.logger.info = info
    metrics = runner.test()
    loop = runner.test_loop
    assert isinstance(loop, SamplingSweepTestLoop)
    assert metrics['toy/score'] == 104.  # the runner's own result is the first setting

    # before_test/after_test once; each setting is one test epoch, applied before its hooks run
    counter = next(h for h in runner.hooks if isinstance(h, _CountingHook))
    assert counter.calls == [
        'before_test', ('before_test_epoch', 10), ('after_test_epoch', 104.), ('before_test_epoch', 5),
        ('after_test_epoch', 54.), ('before_test_epoch', 1), ('after_test_epoch', 14.), ('before_test_epoch', 10),
        ('after_test_epoch', 101.), 'after_test'
    ]

    assert [(s['num_noise_groups'], s['sampling_steps']) for s, _ in loop.results] == [(10, 4), (5, 4), (1, 4), (10, 1)]
    assert [m['toy/score'] for _, m in loop.results] == [104., 54., 14., 101.]
    # keys an entry leaves out keep the model's values; keys set by one entry do not leak into the next
    assert [m['toy/seed'] for _, m in loop.results] == [1, 1, 1, 5]
    assert [m['toy/eta'] for _, m in loop.results] == [-1., -1., -1., 0.]
    assert loop.results[3][0] == dict(num_noise_groups=10, sampling_steps=1, eta=0.0, seed=5)
    # the model's own settings come back after the run, in the same dict
    assert runner.model.test_cfg is model_cfg and model_cfg == own

    logged = [c.args[0] for c in info.call_args_list]
    rows = [line for line in logged if line.startswith('SamplingSweepTestLoop [')]
    assert len(rows) == 4 and 'N=5 steps=4 seed=1' in rows[1] and 'toy/score: 54.0000' in rows[1]
    epoch_lines = [i for i, line in enumerate(logged) if line.startswith('Epoch(test)')]
    assert len(epoch_lines) == 4  # LoggerHook logs every setting's metrics, each just before its row
    assert [logged[i + 1] for i in epoch_lines] == rows
    table = logged[-1].splitlines()
    assert table[0] == 'SamplingSweepTestLoop sweep results:' and len(table) == 2 + 4
    header = table[1].split()
    assert header[:2] == ['setting', 'toy/score'] and table[4].split()[header.index('toy/score') + 2] == '14.0000'
    dumped = json.loads((Path(runner.log_dir) / 'diffusion_sampling_sweep.json').read_text())
    assert [d['metrics']['toy/score'] for d in dumped] == [104., 54., 14., 101.]
    assert dumped[1]['settings'] == dict(num_noise_groups=5, sampling_steps=4, seed=1)


def test_sweep_from_cfg_options(tmp_path):
    """The command-line form: --cfg-options test_cfg.type=SamplingSweepTestLoop "test_cfg.sweep=[(10,4),(1,1)]"."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(['--cfg-options', 'test_cfg.type=SamplingSweepTestLoop', 'test_cfg.sweep=[(10,4),(1,1)]'])
    cfg = Config(dict(test_cfg=dict()))
    cfg.merge_from_dict(args.cfg_options)
    runner = make_runner(tmp_path, cfg.test_cfg)
    assert runner.test()['toy/score'] == 104.
    assert [m['toy/score'] for _, m in runner.test_loop.results] == [104., 11.]


def test_single_settings_come_from_model_test_cfg(tmp_path):
    """Without a sweep, MMEngine's own TestLoop tests the settings in model.test_cfg; no other place sets them."""
    runner = make_runner(tmp_path, dict(), model=dict(type='_ToySamplingModel',
                                                      test_cfg=dict(num_noise_groups=5, sampling_steps=2)))
    assert runner.test()['toy/score'] == 52.
    assert not (Path(runner.log_dir) / 'diffusion_sampling_sweep.json').exists()
    counter = next(h for h in runner.hooks if isinstance(h, _CountingHook))
    assert [c if isinstance(c, str) else c[0]
            for c in counter.calls] == ['before_test', 'before_test_epoch', 'after_test_epoch', 'after_test']


@pytest.mark.parametrize('sweep, match', [
    ([dict(groups=3)], r"sweep entry \{'groups': 3\} has unknown keys \['groups'\]"),
    ([(10, 4), (1, 2, 3)], r'\(num_noise_groups, sampling_steps\) or dicts.*got \(1, 2, 3\)'),
    ([(10, 4), 7], r'got 7'),
    ([(0, 4)], r'sweep entry \(0, 4\): test_cfg.num_noise_groups must be a positive integer'),
    ([(10, 2.5)], r'sweep entry \(10, 2.5\): test_cfg.sampling_steps must be a positive integer'),
    ([dict(eta=2.0)], r"sweep entry \{'eta': 2.0\}: test_cfg.eta must be in \[0, 1\]"),
    ([], 'non-empty list'),
    (None, 'non-empty list'),
    ((10, 4), r'entries must be .*got 10'),
])
def test_bad_sweep_entries_name_the_entry(sweep, match):
    with pytest.raises(ValueError, match=match):  # before the dataloader is built: the runner is not used
        SamplingSweepTestLoop(runner=None, dataloader=None, evaluator=None, sweep=sweep)


def test_model_without_test_cfg(tmp_path):
    runner = make_runner(tmp_path, dict(type='SamplingSweepTestLoop', sweep=[(1, 1)]),
                         model=dict(type='_NoTestCfgModel'))
    with pytest.raises(TypeError, match='needs a model with a `test_cfg` dict'):
        runner.test()
