"""`mim train` / `mim test` end to end on tiny synthetic data, the ways users run them:

* `mim train mmpose configs/diffpose/X.py` (the config's `custom_imports` loads diffpose_mm; any install mode),
  then, interrupted, resumed with this repository's `tools/train.py` and tested with `tools/test.py` (they load
  checkpoints with the allowlist of diffpose_mm/engine/checkpoint.py; MMPose's own scripts cannot load
  MMEngine checkpoints on torch >= 2.6), with `--show-dir` on multi-frame samples;
* `mim train/test diffpose_mm X.py` from a non-editable install (a built wheel) that ships `diffpose_mm/.mim/`.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from diffpose_mm.testing import make_synthetic_posetrack

REPO = Path(__file__).resolve().parents[2]
CONFIG = 'td-diffpose_res18-tiny_1xb16-18e_synthetic-128x96.py'
MIM = str(Path(sys.executable).parent / 'mim')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp('synthetic_posetrack18')
    make_synthetic_posetrack(str(root), seed=0, num_train_videos=2, num_val_videos=1, train_frames=12, val_frames=9)
    return str(root) + '/'


def small_run_options(data_root: str, max_epochs: int = 1) -> list:
    """--cfg-options that point the tiny config at `data_root` and make it quick."""
    opts = [
        f'train_cfg.max_epochs={max_epochs}', 'train_cfg.val_interval=100', 'model.test_cfg.num_noise_groups=2',
        'model.test_cfg.sampling_steps=1', 'model.test_cfg.flip_test=False', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1', 'default_hooks.checkpoint.save_best=None'
    ]
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [
            f'{loader}.dataset.data_root={data_root}', f'{loader}.num_workers=0', f'{loader}.persistent_workers=False',
            f'{loader}.batch_size=4'
        ]
    for loader in ('val_dataloader', 'test_dataloader'):
        opts.append(f'{loader}.dataset.bbox_file={data_root}annotations/posetrack18_val_human_detections.json')
    for evaluator in ('val_evaluator', 'test_evaluator'):
        opts.append(f'{evaluator}.ann_file={data_root}annotations/posetrack18_val.json')
    return opts


def run(args, env=None, cwd=REPO) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{" ".join(map(str, args[:4]))} ... failed:\n{out[-6000:]}'
    return out


AP_TABLE = re.compile(
    r'^\s*Head\|\s*Shoulder\|\s*Elbow\|\s*Wrist\|\s*Hip\|\s*Knee\|\s*Ankle\|\s*Total\s*\n'
    r'(\s*\d+\.\d\|){7}\s*\d+\.\d\s*$', re.MULTILINE)


def assert_ap_table(out: str) -> None:
    """The grouped per-joint table (header and a row of 8 numbers) and the COCO AP were printed."""
    assert AP_TABLE.search(out), f'no per-joint PoseTrack AP table in the output:\n{out[-3000:]}'
    assert re.search(r'posetrack/Total: \d+\.\d+', out) and re.search(r'coco/AP: \d\.\d+', out)


def test_mim_train_resume_test_show_dir_custom_imports(data_root, tmp_path):
    config = str(REPO / 'configs' / 'diffpose' / CONFIG)
    work = tmp_path / 'work'
    out = run([
        MIM, 'train', 'mmpose', config, '--work-dir',
        str(work), '--cfg-options', *small_run_options(data_root, max_epochs=1)
    ])
    assert (work / 'epoch_1.pth').is_file()
    assert 'loss_kpt' in out

    # interrupted after epoch 1: resume and continue to epoch 2 from the same work dir
    out = run([
        sys.executable, 'tools/train.py', config, '--work-dir',
        str(work), '--resume', '--cfg-options', *small_run_options(data_root, max_epochs=2)
    ])
    assert 'resumed epoch: 1' in out, out[-3000:]
    assert 'Epoch(train) [2]' in out and 'Epoch(train) [1]' not in out
    assert (work / 'epoch_2.pth').is_file()

    show = tmp_path / 'show'
    out = run([
        sys.executable, 'tools/test.py', config,
        str(work / 'epoch_2.pth'), '--work-dir',
        str(tmp_path / 'test'), '--show-dir',
        str(show), '--cfg-options', *small_run_options(data_root)
    ])
    assert_ap_table(out)
    drawn = list(show.rglob('*.jpg')) + list(show.rglob('*.png'))
    assert drawn, f'--show-dir wrote no images under {show}'


def test_mim_train_and_test_installed_package(data_root, tmp_path):
    wheel_dir, site = tmp_path / 'wheels', tmp_path / 'site'
    run([
        sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w',
        str(wheel_dir),
        str(REPO)
    ])
    wheel = next(wheel_dir.glob('diffpose_mm-*.whl'))
    run([sys.executable, '-m', 'pip', 'install', '--no-deps', '-q', '--target', str(site), str(wheel)])
    assert (site / 'diffpose_mm' / '.mim' / 'configs' / 'diffpose' / CONFIG).is_file()
    assert (site / 'diffpose_mm' / '.mim' / 'tools' / 'train.py').is_file()

    # the installed copy comes first; run outside the repository so nothing resolves to the checkout
    env = dict(os.environ, PYTHONPATH=str(site))
    work = tmp_path / 'work'
    out = run(
        [MIM, 'train', 'diffpose_mm', CONFIG, '--work-dir',
         str(work), '--cfg-options', *small_run_options(data_root)], env=env, cwd=tmp_path)
    assert f'{site}/diffpose_mm/.mim/tools/train.py' in out, 'mim did not use the installed package'
    assert (work / 'epoch_1.pth').is_file()

    out = run([
        MIM, 'test', 'diffpose_mm', CONFIG, '--checkpoint',
        str(work / 'epoch_1.pth'), '--work-dir',
        str(tmp_path / 'test'), '--cfg-options', *small_run_options(data_root)
    ], env=env, cwd=tmp_path)
    assert_ap_table(out)
