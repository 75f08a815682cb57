"""tools/analysis/run_ablations.py: variant configs, the mean-pose baseline, and a 1-epoch smoke run of every
ablation."""
import importlib.util
import json
import math
import shutil
from pathlib import Path

import numpy as np
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
    assert list(rows) == ['DiffPose, δ=2', 'STRL, δ=0', 'HeatmapHead, δ=2', 'Mean pose in box', 'N=1',
                          'N=2, DiffPose', 'Steps=1', 'Steps=2, DiffPose']
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


def test_mean_box_pose_is_the_mean_of_box_normalised_visible_keypoints(tool):
    infos = [dict(bbox=np.array([[10., 20., 30., 60.]]), keypoints=np.array([[[20., 20.], [0., 0.]]]),
                  keypoints_visible=np.array([[1., 0.]])),
             dict(bbox=np.array([[0., 0., 100., 100.]]), keypoints=np.array([[[0., 100.], [0., 0.]]]),
                  keypoints_visible=np.array([[1., 0.]]))]
    # joint 0: (0.5, 0) and (0, 1) in box coordinates; joint 1 is never visible -> box centre
    np.testing.assert_allclose(tool.mean_box_pose(infos), [[0.25, 0.5], [0.5, 0.5]])
    with pytest.raises(ValueError, match='no annotations'):
        tool.mean_box_pose([])


def _same_pose_data(src, dst, val_pose, train_pose):
    """Copy of ``src`` where every person has ``train_pose``/``val_pose`` (K, 2) in box coordinates of its
    (image-clipped) GT box, and the detections are the val GT boxes with distinct scores."""
    shutil.copytree(src, dst)
    ann_dir = dst / 'annotations'
    dets = []
    for path in [ann_dir / 'posetrack18_train.json', ann_dir / 'posetrack18_val.json',
                 *sorted((ann_dir / 'val').glob('*.json'))]:
        data = json.loads(path.read_text())
        pose = train_pose if path.name == 'posetrack18_train.json' else val_pose
        images = {im['id']: im for im in data['images']}
        for ann in data['annotations']:
            im = images[ann['image_id']]
            x, y, w, h = ann['bbox']
            x1, y1 = max(x, 0), max(y, 0)
            x2, y2 = min(x + w, im['width'] - 1), min(y + h, im['height'] - 1)
            ann['bbox'] = [x1, y1, x2 - x1, y2 - y1]
            kpts = np.array(ann['keypoints'], dtype=np.float64).reshape(-1, 3)
            kpts[:, :2] = np.where(kpts[:, 2:] > 0, [x1, y1] + pose * [x2 - x1, y2 - y1], 0.)
            ann['keypoints'] = kpts.flatten().tolist()
            if path.name == 'posetrack18_val.json' and im.get('is_labeled', True):
                dets.append(dict(image_id=im['id'], category_id=1, bbox=ann['bbox'],
                                 score=round(0.5 + 0.01 * len(dets), 2)))
        path.write_text(json.dumps(data))
    (ann_dir / 'posetrack18_val_human_detections.json').write_text(json.dumps(dets))
    return dets


def test_mean_pose_in_box_scores_100_when_everyone_has_the_same_pose(tool, data_root, tmp_path):
    rng = np.random.default_rng(0)
    pose = rng.uniform(0.1, 0.9, size=(17, 2))
    same = tmp_path / 'same'
    dets = _same_pose_data(data_root, same, val_pose=pose, train_pose=pose)
    cfg = tool.base_config(tool.parse_args(['--data-root', str(same)]))
    metrics = tool.mean_pose_in_box(cfg, str(tmp_path / 'out_same'))
    for joint in tool.POSETRACK_COLUMNS:
        assert metrics[f'posetrack/{joint}'] == pytest.approx(100.), joint
    assert metrics['coco/AP'] == pytest.approx(1.)
    # keypoint scores are the box scores: one score per person, the detection scores
    results = json.loads((tmp_path / 'out_same' / 'results.keypoints.json').read_text())
    scores = [np.array(r['keypoints'][2::3]) for r in results]
    assert all(np.allclose(s, s[0]) for s in scores)
    assert sorted(round(float(s[0]), 2) for s in scores) == sorted(d['score'] for d in dets)

    # test people in another pose (left-right mirrored in the box): far from 100
    other = tmp_path / 'other'
    _same_pose_data(data_root, other, val_pose=np.stack([1 - pose[:, 0], pose[:, 1]], 1), train_pose=pose)
    cfg = tool.base_config(tool.parse_args(['--data-root', str(other)]))
    assert tool.mean_pose_in_box(cfg, str(tmp_path / 'out_other'))['posetrack/Total'] < 60.
