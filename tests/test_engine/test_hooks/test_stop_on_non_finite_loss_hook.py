"""A NaN loss stops training with a message naming the iteration; the checkpoints written before stay good."""
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmengine.testing.runner_test_case import ToyModel

from diffpose_mm.engine.checkpoint import load_checkpoint_file
from diffpose_mm.engine.hooks import StopOnNonFiniteLossHook


class PoisonSampleAfterEpoch1(Hook):
    """Test helper: from epoch 2 on, sample 2 of the (in-memory) dataset is NaN."""

    def after_train_epoch(self, runner):
        runner.train_dataloader.dataset[2]['inputs'] = torch.full((2, ), float('nan'))


def make_runner(work_dir, poison=False):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 2, generator=g)
    torch.manual_seed(0)
    return Runner(
        model=ToyModel(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=[dict(inputs=x[i], data_samples=x[i, 0]) for i in range(4)],
                              sampler=dict(type='DefaultSampler',
                                           shuffle=False), batch_size=1, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)), train_cfg=dict(by_epoch=True, max_epochs=3),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        custom_hooks=[dict(type='StopOnNonFiniteLossHook')] + ([PoisonSampleAfterEpoch1()] if poison else []),
        default_scope='mmpose')


def test_clean_run_is_not_stopped(tmp_path):
    runner = make_runner(tmp_path)
    runner.train()
    assert runner.iter == 12 and any(isinstance(h, StopOnNonFiniteLossHook) for h in runner.hooks)


def test_nan_loss_stops_at_its_iteration_and_keeps_earlier_checkpoints(tmp_path):
    runner = make_runner(tmp_path, poison=True)
    with pytest.raises(FloatingPointError, match=r'non-finite loss at iteration 7 \(epoch 2, batch 3\).*loss'):
        runner.train()
    assert sorted(p.name for p in tmp_path.glob('epoch_*.pth')) == ['epoch_1.pth']
    weights = load_checkpoint_file(str(tmp_path / 'epoch_1.pth'))['state_dict']
    assert all(torch.isfinite(w).all() for w in weights.values())
