"""tools/analysis/run_ablations.py: variant configs, the mean-pose baseline, and a 1-epoch smoke run of every
ablation."""
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config

from diffpose_mm.datasets.posetrack_format import POSETRACK_SUMMARY_KEYS

COLUMNS = ['Head', 'Shoulder', 'Elbow', 'Wrist', 'Hip', 'Knee', 'Ankle', 'Total', 'Total (degraded)', 'COCO AP']
SAMPLING = ['model.test_cfg.num_noise_groups=2', 'model.test_cfg.sampling_steps=2']
LOADERS = ['train_dataloader', 'val_dataloader', 'test_dataloader']
FAST = ([f'{d}.num_workers=0' for d in LOADERS] + [f'{d}.persistent_workers=False' for d in LOADERS] +
        ['train_dataloader.batch_size=4', 'val_dataloader.batch_size=4', 'test_dataloader.batch_size=4'])


@pytest.fixture(scope='module')
def tool(load_tool):
    return load_tool('tools/analysis/run_ablations.py')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    from diffpose_mm.testing import make_synthetic_posetrack
    root = tmp_path_factory.mktemp('ablations') / 'synthetic'
    make_synthetic_posetrack(
        str(root), seed=0, num_train_videos=2, num_val_videos=1, train_frames=6, val_frames=9, img_size=(96, 72))
    return root


def test_variant_configs(tool, data_root, mmpose_scope):
    from mmpose.models.heads import HeatmapHead
    from mmpose.registry import DATASETS, MODELS

    import diffpose_mm  # noqa: F401  (registers the modules)
    args = tool.parse_args(['--data-root', str(data_root), '--epochs', '4', '--seeds', '3', '5'])
    cfg = tool.base_config(args)
    assert cfg.randomness.seed == 3 and cfg.train_cfg.max_epochs == 4
    assert tool.base_config(args, 5).randomness.seed == 5
    for sched in cfg.param_scheduler:  # epoch-based schedule squeezed into 4 epochs
        if sched.get('by_epoch', True):
            assert sched['end'] <= 4 and all(1 <= m <= 4 for m in sched.get('milestones', []))
    ann = cfg.val_evaluator.ann_file
    assert ann.startswith(str(data_root) + '/') and Path(ann).is_file(), ann

    # HeatmapHead: same backbone/neck, heatmaps 4x the fused feature map, no diffusion settings or hook
    hm = tool.heatmap_head_config(cfg)
    assert not set(hm.model.test_cfg) & set(tool.SAMPLING_KEYS)
    swept = cfg.copy()
    swept.test_cfg = dict(type='SamplingSweepTestLoop', sweep=[(10, 4), (1, 1)])
    assert tool.heatmap_head_config(swept).test_cfg == {}  # the baseline has nothing to sweep
    assert tool.sampling_config(swept, dict(num_noise_groups=1)).test_cfg == {}
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
    for bad in (['--epochs',
                 '0'], ['--seeds', '1',
                        '1'], ['--etas', '2'], ['--fixes', 'scale_fusion'], ['--only', 'paper', '--fixes', 'aux_loss']):
        with pytest.raises(SystemExit):
            tool.parse_args(bad)


def test_head_variant_configs(tool, data_root, mmpose_scope):
    """Table 4/5 and the paper's Algorithm 1 change exactly the head keys they name; `fixes` undoes one fix of
    the config at a time."""
    from mmpose.registry import MODELS

    import diffpose_mm  # noqa: F401
    cfg = tool.base_config(tool.parse_args(['--data-root', str(data_root)]))
    # a config with four fixes: scale 0.2, the normalised input, self-conditioning and the auxiliary loss (and the
    # paper's sum fusion, the architecture key the `fusion` row flips)
    cfg.model.head.scale_fusion = 'sum'
    cfg.model.head.diffusion.signal_scale = 0.2
    cfg.model.head.diffusion.input_mode = 'normalize'
    cfg.model.head.self_condition = True
    cfg.model.head.aux_loss = dict(type='KeypointMSELoss', use_target_weight=True)
    cfg.model.head.self_align_prob = 0.5
    runs = {name: (label, run_cfg) for name, label, _, run_cfg in tool.training_rows(cfg, tool.EXPERIMENTS)}
    assert list(runs)[:5] == ['delta2', 'delta0', 'heatmap_head', 'regressor', 'paper']
    # the default (HeatmapHead-style) initialisation counts as a fix too: its row uses PyTorch's (init_cfg=[])
    assert {'undo_signal_scale', 'undo_input_mode', 'undo_self_condition', 'undo_aux_loss', 'undo_init_cfg'} \
        <= set(runs)
    assert runs['undo_aux_loss'][1].model.head.aux_loss is None and runs['undo_aux_loss'][1].model.head.self_condition
    assert not {'undo_last_step_prob', 'undo_num_train_draws'} & set(runs)  # unchanged keys get no row
    assert runs['undo_init_cfg'][1].model.head.init_cfg == [] and runs['undo_init_cfg'][0] == 'PyTorch default init'
    assert runs['undo_self_condition'][0] == 'self_condition=False (paper)'
    assert runs['undo_self_align_prob'][1].model.head.self_align_prob == 0
    assert runs['paper'][1].model.head.self_align_prob == 0
    # --fixes: the rows of the named keys only
    assert [n for n, *_ in tool.training_rows(cfg, ['fixes'], ['self_align_prob', 'aux_loss'])] == \
        ['delta2', 'undo_self_align_prob', 'undo_aux_loss']
    undo = runs['undo_signal_scale'][1].model.head
    assert undo.diffusion.signal_scale == 2.0 and undo.self_condition is True
    paper = runs['paper'][1].model.head
    assert paper.diffusion.signal_scale == 2.0 and paper.self_condition is False
    assert paper.diffusion.input_mode == 'clamp' and paper.diffusion.last_step_prob == 0 and paper.aux_loss is None
    # the equal-capacity regressor: the reference head with every training draw at t = T-1, tested in one step
    regressor = runs['regressor'][1]
    assert regressor.model.head.diffusion == dict(cfg.model.head.diffusion, last_step_prob=1.)
    assert {k: v for k, v in regressor.model.head.items() if k != 'diffusion'} == \
        {k: v for k, v in cfg.model.head.items() if k != 'diffusion'}
    assert regressor.model.test_cfg == dict(cfg.model.test_cfg, sampling_steps=1)
    diffusion = MODELS.build(regressor.model).head.diffusion
    assert diffusion.sample_timesteps(256, torch.device('cpu')).eq(diffusion.num_timesteps - 1).all()
    assert diffusion.ddim_time_pairs(regressor.model.test_cfg.sampling_steps) == [(diffusion.num_timesteps - 1, -1)]
    assert runs['direct_single'][1].model.head.interaction == 'concat'
    assert runs['direct_single'][1].model.neck.num_frames == 1
    assert runs['direct_multi'][1].model.neck == cfg.model.neck
    low_res = runs['low_res'][1].model.head
    assert low_res.num_scales == 1 and low_res.aux_loss is None  # nothing at full resolution to supervise
    assert runs['concat_fusion'][1].model.head.scale_fusion == 'concat'
    # the fusion row is the other fusion than the config's
    concat = tool.training_rows(tool.head_config(cfg, scale_fusion='concat'), ['fusion'])[1]
    assert concat[:2] == ('sum_fusion', 'LMSFI, sum fusion (paper)') and concat[3].model.head.scale_fusion == 'sum'
    assert runs['delta2_long'][1].train_cfg.max_epochs == tool.LONG_SCHEDULE * cfg.train_cfg.max_epochs
    assert runs['heatmap_head_long'][1].model.head.type == 'HeatmapHead'
    for name in ('paper', 'direct_single', 'low_res', 'concat_fusion'):
        MODELS.build(runs[name][1].model)  # every variant builds
    # a config with the paper's settings: no `paper` row (it would repeat the reference) and no fix rows
    plain = tool.head_config(cfg, **tool.UNDO_FIXES)
    assert [n for n, *_ in tool.training_rows(plain, ['paper', 'fixes'])] == ['delta2']
    assert 'paper' not in [n for n, *_ in tool.training_rows(tool.head_config(cfg, **tool.PAPER_HEAD), ['paper'])]
    # the shipped config (concatenation fusion, aux_loss): its rows flip the fusion to the paper's sum, drop the
    # auxiliary loss where they say so, and all build
    shipped = tool.base_config(tool.parse_args(['--data-root', str(data_root)]))
    rows = {name: run_cfg.model for name, _, _, run_cfg in tool.training_rows(shipped, tool.EXPERIMENTS)}
    assert rows['sum_fusion'].head.scale_fusion == 'sum'
    assert rows['sum_fusion'].head.aux_loss == shipped.model.head.aux_loss
    assert rows['undo_aux_loss'].head.aux_loss is None and rows['undo_aux_loss'].head.scale_fusion == 'concat'
    assert rows['paper'].head.aux_loss is None and rows['low_res'].head.aux_loss is None
    for model in rows.values():
        MODELS.build(model)


def test_make_row_mean_std_and_paired_difference(tool):

    def metrics(total, degraded):
        return {'posetrack/Total': total, 'posetrack/Total (degraded)': degraded, 'coco/AP': 0.5}

    ref = {0: metrics(70., 60.), 1: metrics(74., 66.), 2: metrics(72., 63.)}
    other = {0: metrics(72., 61.), 1: metrics(77., 70.), 2: metrics(73., 63.)}
    row = tool.make_row('x', '-', other, ref)
    assert row['values']['Total'] == pytest.approx(74.)
    assert row['std']['Total'] == pytest.approx(np.std([72, 77, 73], ddof=1))
    # paired differences 2, 3, 1 (mean 2, std 1): much tighter than the spread of either row over seeds
    assert row['diff']['Total'] == pytest.approx(2.) and row['diff_std']['Total'] == pytest.approx(1.)
    assert row['diff']['Total (degraded)'] == pytest.approx(np.mean([1, 4, 0]))
    assert row['values']['COCO AP'] == pytest.approx(50.)
    assert tool.make_row('ref', '-', ref, ref)['diff'] == {}
    single = tool.make_row('y', '-', {0: metrics(71., 60.)}, {0: metrics(70., 62.)})
    assert math.isnan(single['std']['Total']) and single['diff']['Total (degraded)'] == pytest.approx(-2.)
    table = tool.format_table([tool.make_row('ref', '-', ref, ref), row, single], 'caption')
    lines = table.splitlines()
    assert lines[0] == 'caption'
    cells = [c.strip() for c in lines[5].strip('|').split('|')]
    assert cells[9:] == ['74.0 ± 2.6', '64.7 ± 4.7', '50.0', '+2.0 ± 1.0', '+1.7 ± 2.1']
    cells = [c.strip() for c in lines[6].strip('|').split('|')]
    assert cells[9:] == ['71.0', '60.0', '50.0', '+1.0', '-2.0']


def test_smoke_run(tool, data_root, tmp_path, capsys):
    out = tmp_path / 'out'
    cfg_options = FAST + SAMPLING
    argv = [
        '--data-root',
        str(data_root), '--out-dir',
        str(out), '--epochs', '1', '--seeds', '0', '1', '--only', 'mean_pose', 'noise_groups', 'sampling_steps', 'eta',
        'aux_readout', '--noise-groups', '1', '2', '--sampling-steps', '1', '2', '--etas', '0', '1', '--cfg-options'
    ] + cfg_options
    assert tool.main(argv) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith('|')]
    header = [c.strip() for c in lines[0].strip('|').split('|')]
    assert header == ['Row', 'Paper'] + COLUMNS + ['Δ Total', 'Δ degraded']
    rows = {}
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip('|').split('|')]
        rows[cells[0]] = cells[2:]
    eta = tool.default_sampling(tool.base_config(tool.parse_args(['--cfg-options'] + cfg_options)))['eta']
    expected = [
        'DiffPose, δ=2', 'N=1', 'N=2, DiffPose', 'Steps=1', 'Steps=2, DiffPose',
        'eta=0' + (', DiffPose' if eta == 0 else ''), 'eta=1' + (', DiffPose' if eta == 1 else ''),
        'Read-out of F³ (aux layer)', 'Mean pose in box'
    ]
    assert list(rows) == expected
    gt = json.loads((data_root / 'annotations' / 'posetrack18_val.json').read_text())
    has_degraded = any(im['is_labeled'] and im['degradation'] != 'none' for im in gt['images'])
    for name, cells in rows.items():
        for col, cell in zip(COLUMNS, cells):
            if col == 'Total (degraded)' and not has_degraded:
                assert cell == 'n/a'
                continue
            assert 0. <= float(cell.split(' ± ')[0]) <= 100., (name, col, cell)
    # N=2, Steps=2 is the reference setting: reused, not re-run
    assert rows['N=2, DiffPose'][:-2] == rows['DiffPose, δ=2'][:-2] == rows['Steps=2, DiffPose'][:-2]
    assert rows['DiffPose, δ=2'][-2:] == ['-', '-']

    result = json.loads((out / 'ablations.json').read_text())
    assert (out / 'ablations.md').read_text().strip().endswith(lines[-1])
    by_name = {r['name']: r for r in result['rows']}
    assert by_name['N=1']['settings']['num_noise_groups'] == 1 and by_name['N=1']['seeds'] == [0, 1]
    # mean over the two seeds' metrics, and the paired difference to the reference of the same seed
    totals = [by_name['N=1']['metrics'][s]['posetrack/Total'] for s in ('0', '1')]
    refs = [by_name['DiffPose, δ=2']['metrics'][s]['posetrack/Total'] for s in ('0', '1')]
    assert math.isclose(by_name['N=1']['values']['Total'], np.mean(totals))
    assert math.isclose(by_name['N=1']['diff']['Total'], np.mean(np.subtract(totals, refs)), abs_tol=1e-9)
    # the N=1 test really ran with N=1 (dumped config of its work dir), once per seed
    for seed in (0, 1):
        test_dir = out / f'seed{seed}' / 'delta2' / 'sampling_num_noise_groups1'
        run_cfg = Config.fromfile(next(test_dir.glob('*.py')))
        assert run_cfg.model.test_cfg.num_noise_groups == 1 and run_cfg.model.test_cfg.sampling_steps == 2
        assert run_cfg.randomness.seed == seed
        readout_cfg = Config.fromfile(next((out / f'seed{seed}' / 'delta2' / 'sampling_aux_readout1').glob('*.py')))
        assert readout_cfg.model.test_cfg.aux_readout is True

    # a second command that shares the runs reuses them: same table, nothing trained or tested again
    stamps = {
        p: p.stat().st_mtime_ns
        for p in out.rglob('*') if p.suffix in ('.pth', '.json') and p.parent != out and 'mean_pose' not in p.parts
    }  # the mean pose is not trained: recomputed
    capsys.readouterr()
    assert tool.main(argv) == 0
    assert [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith('|')] == lines
    assert stamps and all(p.stat().st_mtime_ns == t for p, t in stamps.items())


def test_mean_box_pose_is_the_mean_of_box_normalised_visible_keypoints(tool):
    infos = [
        dict(
            bbox=np.array([[10., 20., 30., 60.]]), keypoints=np.array([[[20., 20.], [0., 0.]]]),
            keypoints_visible=np.array([[1., 0.]])),
        dict(
            bbox=np.array([[0., 0., 100., 100.]]), keypoints=np.array([[[0., 100.], [0., 0.]]]),
            keypoints_visible=np.array([[1., 0.]]))
    ]
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
    for path in [
            ann_dir / 'posetrack18_train.json', ann_dir / 'posetrack18_val.json', *sorted(
                (ann_dir / 'val').glob('*.json'))
    ]:
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
                dets.append(
                    dict(image_id=im['id'], category_id=1, bbox=ann['bbox'], score=round(0.5 + 0.01 * len(dets), 2)))
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
    for joint in POSETRACK_SUMMARY_KEYS:
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
