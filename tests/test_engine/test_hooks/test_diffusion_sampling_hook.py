import json
import uuid
from pathlib import Path
from unittest.mock import Mock

import pytest
import torch
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

import diffpose_mm  # noqa: F401  (registers the modules)
from diffpose_mm.engine.hooks import DiffusionSamplingHook
from mmpose.registry import HOOKS, METRICS, MODELS


@pytest.fixture(autouse=True)
def mmpose_scope():
    """Build from MMPose's registries whatever default scope earlier tests left behind."""
    with DefaultScope.overwrite_default_scope('mmpose'):
        yield


class FakeModel(nn.Module):
    """Model whose 'accuracy' is a known function of the sampling settings in model.test_cfg / head.test_cfg."""

    def __init__(self):
        super().__init__()
        self.test_cfg = dict(flip_test=True, num_noise_groups=10, sampling_steps=4)
        self.head = nn.Module()
        self.head.test_cfg = dict(self.test_cfg)


class FakeTestLoop:

    def __init__(self, runner):
        self.runner = runner
        self.calls = 0

    def run(self):  # mimics mmengine's TestLoop.run: hooks around an evaluation
        self.calls += 1
        self.runner.call_hook('before_test_epoch')
        cfg, head_cfg = self.runner.model.test_cfg, self.runner.model.head.test_cfg
        assert cfg == head_cfg  # the hook keeps both in step
        metrics = {'acc': cfg['num_noise_groups'] * 10. + cfg['sampling_steps'], 'seed': cfg.get('seed')}
        self.runner.call_hook('after_test_epoch', metrics=metrics)
        return metrics


class FakeRunner:

    def __init__(self, hook, log_dir):
        self.model = FakeModel()
        self.hooks = [hook]
        self.logger = Mock()
        self.log_dir = str(log_dir)
        self.test_loop = FakeTestLoop(self)

    def call_hook(self, name, **kwargs):
        for hook in self.hooks:
            getattr(hook, name)(self, **kwargs)


def test_sets_settings_for_validation_and_test(tmp_path):
    hook = HOOKS.build(dict(type='DiffusionSamplingHook', num_noise_groups=5, sampling_steps=2, eta=0.0, seed=7))
    runner = FakeRunner(hook, tmp_path)
    hook.before_val_epoch(runner)
    expected = dict(flip_test=True, num_noise_groups=5, sampling_steps=2, eta=0.0, seed=7)
    assert runner.model.test_cfg == expected and runner.model.head.test_cfg == expected
    runner.model.test_cfg['num_noise_groups'] = 1
    metrics = runner.test_loop.run()
    assert metrics['acc'] == 52. and runner.test_loop.calls == 1  # no sweep: a single run
    assert not (tmp_path / 'diffusion_sampling_sweep.json').exists()


def test_sweep_runs_one_evaluation_per_setting(tmp_path):
    sweep = [(10, 4), (5, 4), (1, 4), dict(num_noise_groups=10, sampling_steps=1, eta=0.0)]
    hook = DiffusionSamplingHook(seed=0, sweep=sweep)
    runner = FakeRunner(hook, tmp_path)
    metrics = runner.test_loop.run()
    assert metrics['acc'] == 104.  # the runner's own result is the first setting
    assert runner.test_loop.calls == 4  # nested runs do not sweep again
    assert [(s['num_noise_groups'], s['sampling_steps']) for s, _ in hook.results] == [(10, 4), (5, 4), (1, 4),
                                                                                    (10, 1)]
    assert [m['acc'] for _, m in hook.results] == [104., 54., 14., 101.]
    assert all(s['seed'] == 0 and m['seed'] == 0 for s, m in hook.results)
    assert hook.results[3][0]['eta'] == 0.0
    # the first setting is restored after the sweep
    assert runner.model.test_cfg['num_noise_groups'] == 10 and runner.model.test_cfg['sampling_steps'] == 4
    assert 'eta' not in runner.model.test_cfg  # set by the last entry only, it does not leak
    logged = [c.args[0] for c in runner.logger.info.call_args_list]
    rows = [line for line in logged if line.startswith('DiffusionSamplingHook [')]
    assert len(rows) == 4 and 'N=5 steps=4' in rows[1] and 'acc: 54.0000' in rows[1]
    table = logged[-1].splitlines()
    assert table[0] == 'DiffusionSamplingHook sweep results:' and len(table) == 2 + 4
    header = table[1].split()
    assert header[:2] == ['setting', 'acc'] and table[4].split()[header.index('acc') + 2] == '14.0000'
    dumped = json.loads((tmp_path / 'diffusion_sampling_sweep.json').read_text())
    assert [d['metrics']['acc'] for d in dumped] == [104., 54., 14., 101.]


def test_bad_sweep_entries_and_models():
    with pytest.raises(ValueError, match='unknown keys'):
        DiffusionSamplingHook(sweep=[dict(groups=3)])
    with pytest.raises(ValueError, match='num_noise_groups, sampling_steps'):
        DiffusionSamplingHook(sweep=[(1, 2, 3)])
    runner = Mock(model=nn.Linear(2, 2))
    with pytest.raises(RuntimeError, match='model.head'):
        DiffusionSamplingHook(num_noise_groups=2).before_val_epoch(runner)


# ---------------------------------------------------------------- with a real mmengine Runner
class ToySet(Dataset):
    metainfo = dict()

    def __len__(self):
        return 4

    def __getitem__(self, idx):
        return dict(inputs=torch.tensor([float(idx)]), data_samples=idx)


@MODELS.register_module(force=True)
class _ToySamplingModel(BaseModel):
    """Its test output is (N, steps) read from test_cfg the way MMPose's estimators pass it to the head."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(1, 1)
        self.test_cfg = dict(num_noise_groups=1, sampling_steps=1)
        self.head = nn.Module()
        self.head.test_cfg = dict(self.test_cfg)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        cfg = self.test_cfg
        return [dict(n=cfg['num_noise_groups'], steps=cfg['sampling_steps']) for _ in data_samples]


@METRICS.register_module(force=True)
class _ToySamplingMetric(BaseMetric):
    default_prefix = 'toy'

    def process(self, data_batch, data_samples):
        self.results.extend(data_samples)

    def compute_metrics(self, results):
        return dict(score=float(sum(r['n'] * 10 + r['steps'] for r in results)) / len(results))


def test_sweep_inside_a_real_runner(tmp_path):
    runner = Runner(
        model=dict(type='_ToySamplingModel'),
        work_dir=str(tmp_path),
        test_dataloader=dict(dataset=ToySet(), sampler=dict(type='DefaultSampler', shuffle=False), batch_size=2,
                             collate_fn=dict(type='default_collate'), num_workers=0),
        test_evaluator=dict(type='_ToySamplingMetric'),
        test_cfg=dict(),
        custom_hooks=[dict(type='DiffusionSamplingHook', seed=1, sweep=[(10, 4), (1, 1), (5, 2)])],
        default_scope='mmpose',
        experiment_name=f'test_diffusion_sampling_hook_{uuid.uuid4().hex}')  # a unique DefaultScope instance
    metrics = runner.test()
    hook = next(h for h in runner.hooks if isinstance(h, DiffusionSamplingHook))
    assert metrics['toy/score'] == 104.
    assert [m['toy/score'] for _, m in hook.results] == [104., 11., 52.]
    assert runner.model.test_cfg['num_noise_groups'] == 10 and runner.model.head.test_cfg['seed'] == 1
    sweep_json = json.loads((Path(runner.log_dir) / 'diffusion_sampling_sweep.json').read_text())
    assert [d['metrics']['toy/score'] for d in sweep_json] == [104., 11., 52.]
