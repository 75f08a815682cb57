"""tools/analysis/run_ablations.py: variant configs, and a 1-epoch smoke run of every ablation."""
import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
COLUMNS = ['Head', 'Shoulder', 'Elbow', 'Wrist', 'Hip', 'Knee', 'Ankle', 'Total', 'Total (degraded)', 'COCO AP']
SAMPLING = ['model.test_cfg.num_noise_groups=2', 'model.test_cfg.sampling_steps=2']
LOADERS = ['train_dataloader', 'val_dataloader', 'test_dataloader']
FAST = ([f'{d}.num_workers=0' for d in LOADERS] + [f'{d}.persistent_workers=False' for d in LOADERS] +
        ['train_dataloader.batch_size=4', 'val_dataloader.batch_size=4', 'test_dataloader.batch_size=4'])


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('run_ablations', REPO / 'tools' / 'analysis' / 'run_ablations.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    from diffpose_mm.datasets import make_synthetic_posetrack
    root = tmp_path_factory.mktemp('ablations') / 'synthetic'
    make_synthetic_posetrack(str(root), seed=0, num_train_videos=2, num_val_videos=1, train_frames=6,
                             val_frames=9, img_size=(96, 72))
    return root


def _hook_options(cfg_file):
    """Point the DiffusionSamplingHook (wherever it is in custom_hooks) at N=2, steps=2 too."""
    hooks = Config.fromfile(cfg_file).get('custom_hooks', [])
    idx = [i for i, h in enumerate(hooks) if h['type'] == 'DiffusionSamplingHook']
    return [f'custom_hooks.{i}.{k}=2' for i in idx for k in ('num_noise_groups', 'sampling_steps')]


def test_variant_configs(tool, data_root):
    import diffpose_mm  # noqa: F401  (registers the modules)
    from mmpose.models.heads import HeatmapHead
    from mmengine.registry import init_default_scope
    from mmpose.registry import DATASETS, MODELS
    init_default_scope('mmpose')
    args = tool.parse_args(['--data-root', str(data_root), '--epochs', '4', '--seed', '3'])
    cfg = tool.base_config(args)
    assert cfg.randomness.seed == 3 and cfg.train_cfg.max_epochs == 4
    for sched in cfg.param_scheduler:  # epoch-based schedule squeezed into 4 epochs
        if sched.get('by_epoch', True):
            assert sched['end'] <= 4 and all(1 <= m <= 4 for m in sched.get('milestones', []))
    ann = cfg.val_evaluator.ann_file
    assert ann.startswith(str(data_root) + '/') and Path(ann).is_file(), ann

    # HeatmapHead: same backbone/neck, heatmaps 4x the fused feature map, no diffusion settings or hook
    hm = tool.heatmap_head_config(cfg)
    assert not set(hm.model.test_cfg) & set(tool.SAMPLING_KEYS)
    assert all(h['type'] != 'DiffusionSamplingHook' for h in hm.custom_hooks)
    assert hm.model.backbone == cfg.model.backbone and hm.model.neck == cfg.model.neck
    model = MODELS.build(hm.model).eval()
    assert isinstance(model.head, HeatmapHead)
    w, h = cfg.model.head.decoder.input_size
    clip = torch.rand(2, 2 * cfg.val_dataloader.dataset.num_adjacent + 1, 3, h, w)
    with torch.no_grad():
        feats = model.extract_feat(clip)
        heatmaps = model.head(feats)
    fh, fw = feats[-1].shape[-2:]
    assert heatmaps.shape == (2, cfg.model.head.out_channels, 4 * fh, 4 * fw)
    assert tuple(heatmaps.shape[-2:]) == tuple(cfg.model.head.decoder.heatmap_size[::-1])

    # δ=0: single-frame clips from every loader, a 1-frame STRL neck
    d0 = tool.delta0_config(cfg)
    assert d0.model.neck.num_frames == 1 and cfg.model.neck.num_frames > 1
    for loader in LOADERS:
        assert d0[loader].dataset.num_adjacent == 0
    sample = DATASETS.build(d0.train_dataloader.dataset)[0]
    assert sample['inputs'].shape[0] == 1 and sample['inputs'].dim() == 4
    assert DATASETS.build(cfg.train_dataloader.dataset)[0]['inputs'].shape[0] == cfg.model.neck.num_frames
    assert len(DATASETS.build(d0.test_dataloader.dataset).get_data_info(0)['frame_paths']) == 1

    # the sampling variants only change the test-time settings
    s = tool.sampling_config(cfg, dict(num_noise_groups=1, sampling_steps=3))
    assert s.model.test_cfg.num_noise_groups == 1 and tool.default_sampling(s)['sampling_steps'] == 3
    with pytest.raises(SystemExit):
        tool.parse_args(['--epochs', '0'])


def test_smoke_run(tool, data_root, tmp_path, capsys):
    out = tmp_path / 'out'
    cfg_options = FAST + SAMPLING + _hook_options(tool.DEFAULT_CONFIG)
    assert tool.main(['--data-root', str(data_root), '--out-dir', str(out), '--epochs', '1',
                      '--noise-groups', '1', '2', '--sampling-steps', '1', '2', '--cfg-options'] + cfg_options) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith('|')]
    header = [c.strip() for c in lines[0].strip('|').split('|')]
    assert header == ['Row', 'Paper'] + COLUMNS
    rows = {}
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip('|').split('|')]
        rows[cells[0]] = cells[2:]
    assert list(rows) == ['DiffPose, δ=2', 'STRL, δ=0', 'HeatmapHead, δ=2', 'N=1', 'N=2, DiffPose', 'Steps=1',
                          'Steps=2, DiffPose']
    gt = json.loads((data_root / 'annotations' / 'posetrack18_val.json').read_text())
    has_degraded = any(im['is_labeled'] and im['degradation'] != 'none' for im in gt['images'])
    for name, cells in rows.items():
        for col, cell in zip(COLUMNS, cells):
            if col == 'Total (degraded)' and not has_degraded:
                assert cell == 'n/a'
                continue
            assert 0. <= float(cell) <= 100., (name, col, cell)
    # N=2, Steps=2 is the reference setting: reused, not re-run
    assert rows['N=2, DiffPose'] == rows['DiffPose, δ=2'] == rows['Steps=2, DiffPose']

    result = json.loads((out / 'ablations.json').read_text())
    assert (out / 'ablations.md').read_text().strip().endswith(lines[-1])
    by_name = {r['name']: r for r in result['rows']}
    assert by_name['N=1']['settings']['num_noise_groups'] == 1
    assert math.isclose(by_name['N=1']['values']['Total'], by_name['N=1']['metrics']['posetrack/Total'])
    # the N=1 test really ran with N=1 (dumped config of its work dir)
    run_cfg = Config.fromfile(next((out / 'delta2' / 'delta2_test_N1_steps2').glob('*.py')))
    assert run_cfg.model.test_cfg.num_noise_groups == 1 and run_cfg.model.test_cfg.sampling_steps == 2
    assert (out / 'delta0' / 'last_checkpoint').is_file() and (out / 'heatmap_head' / 'last_checkpoint').is_file()
