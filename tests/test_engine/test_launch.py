"""Two CPU processes (gloo) through tools/dist_train.sh and tools/dist_test.sh give the one-process results.

* test: ``PoseTrackMetric`` gives exactly the 1-process AP and prediction files, with the distributed sampler
  padding the last batch
  (``round_up=True`` on an odd number of samples), and rank 0 alone writes the prediction files;
* training: 2 processes x batch b end with the weights of 1 process x batch 2b (a deterministic model: frozen BN,
  as CPU has no SyncBN, a HeatmapHead and no random augmentation);
* resume under DDP: interrupted after epoch 1 and resumed ends with the uninterrupted run's weights.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from diffpose_mm.engine.checkpoint import load_checkpoint_file
from diffpose_mm.testing import make_synthetic_posetrack

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / 'configs' / 'diffpose' / 'td-diffpose_res18-tiny_1xb16-18e_synthetic-128x96.py'


@pytest.fixture(scope='module')
def data_root(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp('synthetic_posetrack18')
    make_synthetic_posetrack(str(root), seed=0, num_train_videos=2, num_val_videos=1, train_frames=12, val_frames=9)
    return str(root) + '/'


def write_config(path: Path, data_root: str, deterministic: bool = False, batch: int = 4, epochs: int = 1) -> str:
    """The tiny config on ``data_root``, quick; ``deterministic``: HeatmapHead, frozen BN, no augmentation."""
    lines = [
        f'_base_ = [{str(TINY)!r}]',
        f'data_root = {data_root!r}',
        'train_cfg = dict(max_epochs={epochs}, val_interval=100)',
        'default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, save_best=None, max_keep_ckpts=-1))',
        'model = dict(test_cfg=dict(num_noise_groups=2, sampling_steps=1, flip_test=False))',
        # 7 val samples: 2 processes pad to 8 with round_up=True
        "val_dataloader = dict(batch_size=3, num_workers=0, persistent_workers=False, "
        "sampler=dict(round_up=True), dataset=dict(data_root=data_root, "
        "bbox_file=data_root + 'annotations/posetrack18_val_human_detections.json'))",
        'test_dataloader = val_dataloader',
        "val_evaluator = dict(ann_file=data_root + 'annotations/posetrack18_val.json')",
        "test_evaluator = dict(ann_file=data_root + 'annotations/posetrack18_val.json', "
        f"outfile_prefix={str(path.parent / 'preds' / path.stem)!r})",
    ]
    if deterministic:
        lines += [
            "codec = dict(type='MSRAHeatmap', input_size=(96, 128), heatmap_size=(6, 8), sigma=1)",
            "model = dict(backbone=dict(norm_eval=True), head=dict(_delete_=True, type='HeatmapHead', in_channels=64, "
            "out_channels=17, deconv_out_channels=None, loss=dict(type='KeypointMSELoss', use_target_weight=True), "
            "decoder=codec), test_cfg=dict(_delete_=True, flip_test=False))",
            # one learning rate for both runs (auto_scale_lr is off by default; said for the reader)
            'auto_scale_lr = dict(enable=False)',
        ]
    lines += [
        "train_dataloader = dict(batch_size={batch}, num_workers=0, persistent_workers=False, "
        "dataset=dict(data_root=data_root{pipeline}))"
    ]
    pipeline = (", pipeline=[dict(type='LoadVideoFrames'), dict(type='GetBBoxCenterScale'), "
                "dict(type='TopdownAffine', input_size=codec['input_size']), "
                "dict(type='GenerateTarget', encoder=codec), dict(type='PackPoseInputs')]") if deterministic else ''
    text = '\n'.join(lines) + '\n'
    path.write_text(
        text.replace('{pipeline}', pipeline).replace('{batch}', str(batch)).replace('{epochs}', str(epochs)))
    return str(path)


def run(args, **env) -> str:
    # PYTHONFAULTHANDLER: a process that aborts (the intermittent SIGABRT after a finished two-process run, see the
    # README) prints the Python stack of every thread, so a failing CI log shows where it was
    proc = subprocess.run([str(a) for a in args], cwd=REPO, capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1', PYTHONFAULTHANDLER='1',
                                   **env))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{" ".join(map(str, args[:4]))} ... failed:\n{out[-10000:]}'
    return out


def dist(script: str, *args, port: int) -> str:
    return run(['bash', f'tools/{script}', *args], PORT=str(port))


def metrics(work_dir: Path) -> dict:
    """The test metrics MMEngine logged (``<timestamp>/<timestamp>.json``, last line)."""
    logs = sorted(work_dir.glob('[0-9]*_[0-9]*/[0-9]*_[0-9]*.json'))
    assert logs, f'no json log under {work_dir}'
    return json.loads(logs[-1].read_text().strip().splitlines()[-1])


def state_dict(path: Path) -> dict:
    return load_checkpoint_file(str(path))['state_dict']


def assert_same_weights(a: Path, b: Path, atol: float = 1e-5) -> None:
    sa, sb = state_dict(a), state_dict(b)
    assert sa.keys() == sb.keys()
    for key in sa:
        torch.testing.assert_close(sa[key].float(), sb[key].float(), atol=atol, rtol=1e-4, msg=key)


def test_two_process_test_matches_one_process(data_root, tmp_path):
    # a deterministic model: DiffPose draws its sampling noise per batch, so its predictions (not its
    # gathering) depend on how samples are batched across processes
    config = write_config(tmp_path / 'tiny.py', data_root, deterministic=True)
    run([sys.executable, 'tools/train.py', config, '--work-dir', tmp_path / 'train'])
    ckpt = tmp_path / 'train' / 'epoch_1.pth'

    one, two = tmp_path / 'one', tmp_path / 'two'
    out1 = run([
        sys.executable, 'tools/test.py', config, ckpt, '--work-dir', one, '--cfg-options',
        f'test_evaluator.outfile_prefix={one}/preds/results'
    ])
    out2 = dist('dist_test.sh', config, ckpt, 2, '--work-dir', two, '--cfg-options',
                f'test_evaluator.outfile_prefix={two}/preds/results', port=29517)
    assert 'Distributed training: True' in out2 and 'GPU number: 2' in out2, out2[-3000:]

    m1, m2 = metrics(one), metrics(two)
    ap_keys = [k for k in m1 if k.startswith(('posetrack/', 'coco/'))]
    assert ap_keys and {k: m1[k] for k in ap_keys} == {k: m2[k] for k in ap_keys}
    table = re.compile(r'PoseTrack AP \(.*?\n.*?\n.*?\n')
    assert table.search(out1).group(0).splitlines()[1:] == table.search(out2).group(0).splitlines()[1:]
    # the prediction files: one set, written once (rank 0), with every val person once
    files1 = sorted(p.relative_to(one) for p in (one / 'preds').rglob('*.json'))
    files2 = sorted(p.relative_to(two) for p in (two / 'preds').rglob('*.json'))
    assert files1 and files1 == files2
    for rel in files1:
        assert json.loads((one / rel).read_text()) == json.loads((two / rel).read_text()), rel


@pytest.mark.parametrize('epochs', [2])
def test_two_process_training_and_resume_match_one_process(data_root, tmp_path, epochs):
    one = write_config(tmp_path / 'one.py', data_root, deterministic=True, batch=4, epochs=epochs)
    two = write_config(tmp_path / 'two.py', data_root, deterministic=True, batch=2, epochs=epochs)

    run([sys.executable, 'tools/train.py', one, '--work-dir', tmp_path / 'w1'])
    dist('dist_train.sh', two, 2, '--work-dir', tmp_path / 'w2', port=29527)
    assert_same_weights(tmp_path / 'w1' / f'epoch_{epochs}.pth', tmp_path / 'w2' / f'epoch_{epochs}.pth')
    # and the weights moved: the comparison is not between two untrained models
    first = state_dict(tmp_path / 'w2' / 'epoch_1.pth')['head.final_layer.weight']
    last = state_dict(tmp_path / 'w2' / f'epoch_{epochs}.pth')['head.final_layer.weight']
    assert not torch.allclose(first, last)

    # resume under DDP: epoch 1 only, then --resume to the end
    dist('dist_train.sh', two, 2, '--work-dir', tmp_path / 'w3', '--cfg-options', 'train_cfg.max_epochs=1', port=29537)
    out = dist('dist_train.sh', two, 2, '--work-dir', tmp_path / 'w3', '--resume', port=29547)
    assert 'resumed epoch: 1' in out
    assert_same_weights(tmp_path / 'w2' / f'epoch_{epochs}.pth', tmp_path / 'w3' / f'epoch_{epochs}.pth')


KILLER = '''
import os, signal
from mmengine.hooks import Hook
from mmpose.registry import HOOKS


@HOOKS.register_module()
class KillAtIteration(Hook):
    """Test helper: SIGKILL the training process after iteration ``at`` (no clean-up, as a crash or OOM kill)."""

    def __init__(self, at):
        self.at = at

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.at:
            os.kill(os.getpid(), signal.SIGKILL)
'''


def test_killed_mid_epoch_and_resumed_equals_uninterrupted(data_root, tmp_path):
    config = write_config(tmp_path / 'det.py', data_root, deterministic=True, batch=4, epochs=2)
    run([sys.executable, 'tools/train.py', config, '--work-dir', tmp_path / 'straight'])

    (tmp_path / 'killer.py').write_text(KILLER)
    iters_per_epoch = len(
        re.findall(r'Epoch\(train\) +\[1\]', (next((tmp_path / 'straight').glob('*/*.log'))).read_text()))
    killed = tmp_path / 'killed'
    killing = tmp_path / 'det_killed.py'  # the same config, plus the hook that kills the run
    killing.write_text(f"_base_ = [{config!r}]\ncustom_imports = dict(imports=['diffpose_mm', 'killer'])\n"
                       f"custom_hooks = [dict(type='KillAtIteration', at={iters_per_epoch + 2})]\n")
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', str(killing), '--work-dir',
         str(killed)], cwd=REPO, capture_output=True, text=True, timeout=900,
        env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(tmp_path)))
    assert proc.returncode == -9, proc.stderr[-3000:]  # killed in epoch 2, after its second iteration
    assert (killed / 'epoch_1.pth').is_file() and not (killed / 'epoch_2.pth').exists()

    out = run([sys.executable, 'tools/train.py', config, '--work-dir', killed, '--resume'])
    assert 'resumed epoch: 1' in out
    assert_same_weights(tmp_path / 'straight' / 'epoch_2.pth', killed / 'epoch_2.pth', atol=0)
    m = [
        metrics_of_test(config, d / 'epoch_2.pth', tmp_path / f'test_{d.name}') for d in (tmp_path / 'straight', killed)
    ]
    assert m[0] == m[1] and 'posetrack/Total' in m[0]


def metrics_of_test(config, ckpt, work_dir) -> dict:
    run([sys.executable, 'tools/test.py', config, ckpt, '--work-dir', work_dir])
    return {k: v for k, v in metrics(work_dir).items() if k.startswith(('posetrack/', 'coco/'))}


def test_unusable_work_dir_and_corrupt_checkpoint_fail_naming_them(data_root, tmp_path):
    config = write_config(tmp_path / 'tiny.py', data_root)
    (tmp_path / 'a_file').write_text('not a directory')
    proc = subprocess.run([sys.executable, 'tools/train.py', config, '--work-dir',
                           str(tmp_path / 'a_file' / 'w')], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert f'work dir {tmp_path}/a_file/w is not writable' in proc.stderr and '--work-dir' in proc.stderr
    assert (tmp_path / 'a_file').read_text() == 'not a directory'  # nothing overwritten
    # a work_dir set in the config is the one checked (and no ./work_dirs/<config name> is made)
    own = tmp_path / 'own_work_dir_xyz.py'
    own.write_text(f'_base_ = [{config!r}]\nwork_dir = {str(tmp_path / "a_file" / "cfg")!r}\n')
    proc = subprocess.run([sys.executable, 'tools/train.py', str(own)], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode != 0 and f'work dir {tmp_path}/a_file/cfg is not writable' in proc.stderr, proc.stderr[
        -3000:]
    assert not (REPO / 'work_dirs' / 'own_work_dir_xyz').exists()

    cut = tmp_path / 'cut.pth'
    cut.write_bytes(b'PK\x03\x04 truncated')
    proc = subprocess.run(
        [sys.executable, 'tools/test.py', config,
         str(cut), '--work-dir', str(tmp_path / 't')], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and f'checkpoint {cut} is truncated or corrupt' in proc.stderr, proc.stderr[-3000:]


@pytest.mark.parametrize('fails', [False, True])
def test_process_group_is_destroyed_after_the_tool_runs(tmp_path, monkeypatch, fails):
    # run_mmpose_tool destroys the group after MMPose's script, also when the script raises (PyTorch asks for it
    # on exit; it is not what causes the intermittent SIGABRT, see the README)
    import socket

    import torch.distributed as torch_dist

    from diffpose_mm.engine import launch
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    for key, value in dict(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK='0', LOCAL_RANK='0',
                           WORLD_SIZE='1').items():
        monkeypatch.setenv(key, value)
    launch.init_cpu_process_group()
    assert torch_dist.is_initialized()
    ran = []

    def script(path, run_name):
        ran.append(torch_dist.is_initialized())  # the group lives while the tool runs
        if fails:
            raise RuntimeError('tool failed')

    monkeypatch.setattr(launch.runpy, 'run_path', script)
    monkeypatch.setattr(launch.torch.cuda, 'is_available', lambda: False)
    argv = ['cfg.py', 'ckpt.pth', '--work-dir', str(tmp_path / 'w'), '--launcher', 'pytorch']
    if fails:
        with pytest.raises(RuntimeError, match='tool failed'):
            launch.run_mmpose_tool('test', argv)
    else:
        launch.run_mmpose_tool('test', argv)
    assert ran == [True]
    assert not torch_dist.is_initialized()
    launch.release_process_group()  # no group: nothing to do
