"""The shipped DiffPose configs build, and their pieces fit together (feature size, heatmap size, clip length)."""
import logging
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope, init_default_scope
from mmpose.registry import MODELS

import diffpose_mm  # noqa: F401  (registers the modules)


@pytest.fixture(autouse=True)
def mmpose_scope():
    """Build from MMPose's registries whatever default scope earlier tests left behind."""
    with DefaultScope.overwrite_default_scope('mmpose'):
        yield


REPO = Path(__file__).resolve().parents[3]
CONFIGS = sorted((REPO / 'configs' / 'diffpose').glob('*.py'))


@pytest.fixture(autouse=True)
def quiet_init_logs():
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)


def test_config_names_are_unique_and_complete():
    names = [c.name for c in CONFIGS]
    assert len(set(names)) == len(names)
    for dataset in ('posetrack17', 'posetrack18', 'posetrack21', 'coco'):
        assert any(dataset in n for n in names), dataset
    assert 'td-diffpose_res18-tiny_1xb16-18e_synthetic-128x96.py' in names


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.stem)
def test_config_builds_consistently(path):
    cfg = Config.fromfile(str(path))
    assert cfg.custom_imports == dict(imports=['diffpose_mm'], allow_failed_imports=False)
    assert cfg.default_scope == 'mmpose' and cfg.load_from is None
    assert cfg.model.head.type == 'DiffPoseHead'
    assert 'init_cfg' not in cfg.model.backbone  # nothing is downloaded at runtime
    test_cfg = cfg.model.test_cfg
    assert test_cfg.num_noise_groups >= 1 and test_cfg.sampling_steps >= 1
    w, h = cfg.codec.input_size
    hw, hh = cfg.codec.heatmap_size
    assert cfg.model.head.decoder == cfg.codec
    # the head settings chosen by measurement (README, "Diffusion settings"), the same in every config
    head_cfg = cfg.model.head
    assert (head_cfg.diffusion.signal_scale, head_cfg.diffusion.input_mode) == (2.0, 'clamp')
    assert head_cfg.scale_fusion == 'concat'
    assert head_cfg.aux_loss == dict(type='KeypointMSELoss', use_target_weight=True)
    init_default_scope('mmpose')
    if 'tiny' not in path.stem:  # paper settings (PoseTrack) / the COCO mixing example
        assert (w, h) == (192, 256) and (hw, hh) == (48, 64)
        assert test_cfg.num_noise_groups == 10 and test_cfg.sampling_steps == 4
        assert cfg.model.head.diffusion.num_timesteps == 1000
    if 'posetrack' in path.stem:
        assert cfg.model.neck.num_frames == 2 * cfg.num_adjacent + 1 == 5
        assert cfg.model.backbone.type == 'mmpretrain.VisionTransformer' and cfg.model.backbone.arch == 'base'
        assert cfg.max_epochs == 60 and cfg.optim_wrapper.optimizer.type == 'AdamW'
        assert cfg.optim_wrapper.optimizer.lr == 5e-4 and cfg.param_scheduler[1].milestones == [20, 40]
        assert cfg.val_evaluator.type == 'PoseTrackMetric' and 'auto_scale_lr' in cfg
    if 'coco' in path.stem:
        assert cfg.model.type == 'TopdownPoseEstimator' and cfg.train_dataloader.dataset.type == 'CocoDataset'
        return  # a ResNet-50 build adds nothing the tiny config does not check
    if 'vit-b' in path.stem and 'posetrack18' not in path.stem:
        return  # same model as the PoseTrack18 config (inherited)
    with torch.device('meta' if 'vit' in path.stem else 'cpu'):  # meta: skip initialising ~120M parameters
        model = MODELS.build(cfg.model)
    neck, head = model.neck, model.head
    assert head.in_channels == neck.embed_dims and tuple(neck.feat_size) == (hh // 4, hw // 4)
    assert neck.num_frames == 2 * cfg.num_adjacent + 1
    if hasattr(model.backbone, 'patch_resolution'):  # ViT: check statically, a forward is slow on CPU
        assert tuple(model.backbone.patch_resolution) == neck.feat_size
        assert model.backbone.embed_dims == neck.in_channels
    else:
        model.eval()
        with torch.no_grad():
            feats = model.extract_feat(torch.randn(1, neck.num_frames, 3, h, w))
        assert feats[0].shape == (1, neck.embed_dims, hh // 4, hw // 4)


def test_benchmark_tool_prints_a_table(load_tool, capsys):
    tool = load_tool('tools/analysis/benchmark_inference.py')
    rows = tool.run(
        tool.parse_args(
            ['--batch-size', '2', '--repeats', '2', '--warmup', '0', '--grid', '1x1', '10x4', '--flip-test', 'off']))
    out = capsys.readouterr().out
    assert [(r['model'].split(' (')[0], r['N'], r['steps']) for r in rows] == [('HeatmapHead', '-', '-'),
                                                                               ('backbone only', '-', '-'),
                                                                               ('DiffPose', 1, 1), ('DiffPose', 10, 4)]
    assert all(r['sec'] > 0 and r['mem'] > 0 for r in rows)
    floor, one, ten = rows[1], rows[2], rows[3]
    # the stage timers: the DiffPose rows spend time in all three stages, 40x more sampling work shows in the head
    assert one['backbone'] > 0 and one['neck'] > 0 and ten['head'] > one['head'] > 0
    assert one['backbone'] + one['neck'] + one['head'] == pytest.approx(one['sec'])
    lines = out.strip().splitlines()
    assert 'x baseline' in lines[2] and 'x floor' in lines[2] and 'STRL+head %' in lines[2] and len(lines) == 8
    assert lines[3].split()[-6] == '1.00' and lines[4].split()[-5] == '1.00'  # baseline / floor to themselves
    ratio = float(lines[-1].split()[-1])
    assert lines[-1].startswith('N=10 x 4 steps / N=1 x 1 step') and ratio == pytest.approx(
        ten['sec'] / one['sec'], abs=0.006)
    assert float(lines[6].split()[-5]) == pytest.approx(ten['sec'] / floor['sec'], abs=0.006)
    with pytest.raises(SystemExit):
        tool.parse_args(['--grid', '10by4'])
    with pytest.raises(SystemExit):
        tool.parse_args(['--checkpoint', 'x.pth', '--config', 'a.py', 'b.py'])


def test_benchmark_applies_cfg_options(load_tool):
    tool = load_tool('tools/analysis/benchmark_inference.py')
    args = tool.parse_args(
        ['--cfg-options', 'model.head.scale_fusion=sum', 'model.head.aux_loss=None', '--flip-test', 'off'])
    cfg = tool.load_config(tool.DEFAULT_CONFIG, args)
    assert cfg.model.head.scale_fusion == 'sum' and cfg.model.head.aux_loss is None
    assert cfg.model.test_cfg.flip_test is False and cfg.model.test_cfg.num_noise_groups == 10  # the rest kept
    head = MODELS.build(cfg.model).head  # the paper's decoder: summed scales, no auxiliary layer
    assert head.scale_fusion is None and head.aux_layer is None
    default = MODELS.build(tool.load_config(tool.DEFAULT_CONFIG, tool.parse_args([])).model).head
    assert default.scale_fusion is not None and default.aux_layer is not None


def test_benchmark_interleaves_settings(load_tool):
    tool = load_tool('tools/analysis/benchmark_inference.py')
    order = []
    settings = {name: (lambda name=name: order.append(name) or dict(total=len(order) * 1.)) for name in ('a', 'b', 'c')}
    medians = tool.time_settings(settings, repeats=3, warmup=1)
    assert order == ['a', 'b', 'c'] + ['a', 'b', 'c'] * 3  # warm-up, then every repeat runs each in turn
    assert medians == {'a': dict(total=7.), 'b': dict(total=8.), 'c': dict(total=9.)}  # median of 4,7,10 etc.
