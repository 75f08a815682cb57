"""diffpose_mm.utils.runs: a finished training's config and checkpoint, as the analysis tools find them."""
from pathlib import Path

import pytest
from mmengine.config import Config

from diffpose_mm.utils import find_run, replace_prefix, with_data_root

REPO = Path(__file__).resolve().parents[2]

CONFIG = """data_root = 'data/a/'
train_dataloader = dict(dataset=dict(data_root=data_root, ann_file='data/a/ann.json', other='data/ab'))
model = dict(test_cfg=dict(num_noise_groups=10))
"""


def _work_dir(path, checkpoint):
    path.mkdir()
    (path / 'config.py').write_text(CONFIG)
    (path / 'last_checkpoint').write_text(str(checkpoint))
    return path


def test_replace_prefix_and_data_root(tmp_path):
    tree = dict(a=['data/a/x', ('data/a/y', 3)], b='data/ab', c=None)
    assert replace_prefix(tree, 'data/a/', 'd/') == dict(a=['d/x', ('d/y', 3)], b='data/ab', c=None)
    (tmp_path / 'cfg.py').write_text(CONFIG)
    cfg = with_data_root(Config.fromfile(str(tmp_path / 'cfg.py')), 'elsewhere/b')  # a trailing / is added
    ds = cfg.train_dataloader.dataset
    assert cfg.data_root == ds.data_root == 'elsewhere/b/'
    assert ds.ann_file == 'elsewhere/b/ann.json' and ds.other == 'data/ab'
    with pytest.raises(ValueError, match='data_root'):
        with_data_root(Config(dict(model=dict())), 'elsewhere')


def test_find_run_overrides_and_moved_checkpoint(tmp_path):
    work_dir = _work_dir(tmp_path / 'run', tmp_path / 'run' / 'epoch_2.pth')
    (work_dir / 'epoch_2.pth').write_bytes(b'')
    cfg, checkpoint = find_run(str(work_dir), 'data/b', dict(model=dict(test_cfg=dict(num_noise_groups=1))))
    assert checkpoint == str(work_dir / 'epoch_2.pth')
    assert cfg.train_dataloader.dataset.ann_file == 'data/b/ann.json' and cfg.model.test_cfg.num_noise_groups == 1

    # copied elsewhere: last_checkpoint still names the old place, the file of that name here is used
    moved = _work_dir(tmp_path / 'moved', tmp_path / 'gone' / 'epoch_2.pth')
    (moved / 'epoch_2.pth').write_bytes(b'')
    assert find_run(str(moved))[1] == str(moved / 'epoch_2.pth')
    (moved / 'epoch_2.pth').unlink()
    with pytest.raises(FileNotFoundError, match='epoch_2.pth'):
        find_run(str(moved))
    with pytest.raises(FileNotFoundError, match='last_checkpoint'):
        find_run(str(tmp_path))  # no config, no last_checkpoint


def test_load_run_builds_the_model_with_an_mmengine_checkpoint(tmp_path, mmpose_scope):
    """``init_model`` with the checkpoint as the runner writes it (numpy and HistoryBuffer in its message hub:
    loaded with MMEngine's allowlist, ``weights_only=True``), the overrides applied before the build."""
    import numpy as np
    import torch
    from mmengine.logging import HistoryBuffer
    from mmpose.registry import MODELS

    from diffpose_mm.utils import load_run
    cfg = Config.fromfile(str(REPO / 'configs' / 'diffpose' / 'td-diffpose_res18-tiny_1xb16-18e_synthetic-128x96.py'))
    work_dir = tmp_path / 'run'
    work_dir.mkdir()
    cfg.dump(str(work_dir / 'config.py'))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    loss = HistoryBuffer()
    loss.update(np.float64(1.))
    torch.save(
        dict(
            meta=dict(epoch=1, seed=np.int64(0)), state_dict=model.state_dict(),
            message_hub=dict(log_scalars={'train/loss': loss})), str(work_dir / 'epoch_1.pth'))
    (work_dir / 'last_checkpoint').write_text(str(tmp_path / 'elsewhere' / 'epoch_1.pth'))  # moved work dir
    loaded_cfg, loaded = load_run(str(work_dir), cfg_options={'model.test_cfg.num_noise_groups': 2})
    assert loaded_cfg.model.test_cfg.num_noise_groups == 2 == loaded.test_cfg['num_noise_groups']
    assert not loaded.training and loaded.cfg is not loaded_cfg  # init_model edits a copy
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)
