"""Checkpoints load with ``weights_only=True`` and MMEngine's allowlist: resume works, anything else is refused."""
import os
import pickle
import subprocess
import sys

import pytest
import torch
from mmengine.runner import Runner
from mmengine.testing.runner_test_case import ToyModel

from diffpose_mm.engine.checkpoint import CheckpointLoadError, load_checkpoint_file, mmengine_checkpoint_globals


def toy_dataset(n=32):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 2, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0]])
    return [dict(inputs=x[i], data_samples=y[i]) for i in range(n)]


def make_runner(work_dir, max_epochs, resume=False):
    torch.manual_seed(0)  # identical initial weights for every run
    return Runner(
        model=ToyModel(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=toy_dataset(), sampler=dict(type='DefaultSampler', shuffle=True), batch_size=8,
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        train_cfg=dict(by_epoch=True,
                       max_epochs=max_epochs), default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        randomness=dict(seed=0), resume=resume, default_scope='mmengine')


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
    with mmengine_checkpoint_globals(str(tmp_path / 'resumed')):
        resumed.train()

    assert resumed.epoch == 3
    assert resumed.iter == straight.iter == 12
    for (name, p1), (_, p2) in zip(straight.model.named_parameters(), resumed.model.named_parameters()):
        torch.testing.assert_close(p1, p2, msg=f'parameter {name} differs after resume')


class _RunsCode:
    """Un-pickling this runs ``touch <path>``: a stand-in for a malicious checkpoint."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.system, (f'touch {self.path}', ))


def test_malicious_checkpoint_is_refused_naming_file_and_type(tmp_path):
    marker = tmp_path / 'code_ran'
    ckpt = tmp_path / 'evil.pth'
    torch.save(dict(state_dict={}, meta=_RunsCode(marker)), ckpt)
    with pytest.raises(CheckpointLoadError, match=r'evil\.pth.*(posix|os)\.system'):
        load_checkpoint_file(str(ckpt))
    assert not marker.exists()
    # the same inside a run: MMEngine's own loader, within the context
    runner = make_runner(tmp_path / 'run', max_epochs=1)
    with pytest.raises(CheckpointLoadError, match='evil.pth'):
        with mmengine_checkpoint_globals(str(ckpt)):
            runner.load_checkpoint(str(ckpt))
    assert not marker.exists()


def test_getattr_is_limited_to_history_buffer_statistics(tmp_path):

    class _Getattr:

        def __reduce__(self):
            return (getattr, (torch.nn.Module, '__init__'))

    torch.save(dict(x=_Getattr()), tmp_path / 'g.pth')
    with pytest.raises(CheckpointLoadError, match='g.pth'):
        load_checkpoint_file(str(tmp_path / 'g.pth'))


def test_truncated_checkpoint_names_the_file(tmp_path):
    make_runner(tmp_path, max_epochs=1).train()
    data = (tmp_path / 'epoch_1.pth').read_bytes()
    (tmp_path / 'cut.pth').write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointLoadError, match=r'cut\.pth is truncated or corrupt'):
        load_checkpoint_file(str(tmp_path / 'cut.pth'))
    ckpt = load_checkpoint_file(str(tmp_path / 'epoch_1.pth'))  # the intact one loads
    assert ckpt['meta']['epoch'] == 1 and 'message_hub' in ckpt


def test_import_changes_nothing_process_wide():
    """``import diffpose_mm`` leaves MMEngine's loaders and torch's safe globals as they were.

    MMPose's own modules are imported first: importing them makes torch register some of its own safe globals
    (``torch.distributed.tensor`` types), which is not diffpose_mm's doing.
    """
    code = ('from mmengine.runner.checkpoint import CheckpointLoader as C; import torch; '
            'import mmpose.datasets, mmpose.engine, mmpose.evaluation, mmpose.models, mmpose.visualization; '
            'before = (dict(C._schemes), list(torch.serialization.get_safe_globals())); '
            'import diffpose_mm; '
            'after = (dict(C._schemes), list(torch.serialization.get_safe_globals())); '
            'assert before == after, (before, after); print("unchanged")')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.returncode == 0 and 'unchanged' in out.stdout, out.stderr[-2000:]


def test_trusted_opt_in_loads_other_types(tmp_path):
    """The documented opt-in for trusted files is torch's own TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1."""
    from fractions import Fraction
    torch.save(dict(meta=dict(note=Fraction(1, 3))), tmp_path / 'trusted.pth')
    with pytest.raises(CheckpointLoadError, match='fractions.Fraction'):
        load_checkpoint_file(str(tmp_path / 'trusted.pth'))
    code = ('import torch, diffpose_mm; from diffpose_mm.engine.checkpoint import load_checkpoint_file; '
            f'print(load_checkpoint_file({str(tmp_path / "trusted.pth")!r})["meta"]["note"])')
    env = dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD='1')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and out.stdout.strip() == '1/3', out.stderr[-2000:]
