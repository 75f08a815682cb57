"""An interrupted training run resumes from its own checkpoint (torch >= 2.6 + mmengine 0.10.7)."""
import pickle

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner

import diffpose_mm  # noqa: F401  (installs the local checkpoint loader)


class ToyRegressor(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 1)

    def forward(self, inputs, targets, mode='tensor'):
        pred = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=((pred - targets)**2).mean())
        return pred


def toy_dataset(n=32):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    return [dict(inputs=x[i], targets=y[i]) for i in range(n)]


def make_runner(work_dir, max_epochs, resume=False):
    torch.manual_seed(0)  # identical initial weights for every run
    return Runner(
        model=ToyRegressor(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=toy_dataset(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=8,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        randomness=dict(seed=0),
        resume=resume,
        default_scope='mmengine')


def test_plain_torch_load_rejects_mmengine_checkpoint(tmp_path):
    """The premise: torch's default (weights_only=True) cannot read what mmengine writes."""
    make_runner(tmp_path, max_epochs=1).train()
    with pytest.raises(pickle.UnpicklingError):
        torch.load(tmp_path / 'epoch_1.pth')


def test_interrupted_run_resumes_to_same_weights(tmp_path):
    straight = make_runner(tmp_path / 'straight', max_epochs=3)
    straight.train()

    # "interrupted" after epoch 1 ...
    make_runner(tmp_path / 'resumed', max_epochs=1).train()
    # ... then resumed from the latest checkpoint of the same work_dir and run to the end.
    resumed = make_runner(tmp_path / 'resumed', max_epochs=3, resume=True)
    resumed.train()

    assert resumed.epoch == 3
    assert resumed.iter == straight.iter == 12
    for (name, p1), (_, p2) in zip(straight.model.named_parameters(), resumed.model.named_parameters()):
        torch.testing.assert_close(p1, p2, msg=f'parameter {name} differs after resume')
