"""tools/misc/generate_person_boxes.py with a tiny randomly initialised RetinaNet (ResNet-18) on the real
PoseTrack18 fixture images: the plumbing and the output format are tested, not the detections."""
import json
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope

WIDTH, HEIGHT = 1920, 1080

TINY_RETINANET = dict(
    default_scope='mmdet',
    model=dict(
        type='RetinaNet',
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                               bgr_to_rgb=True, pad_size_divisor=32),
        backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(1, 2, 3), frozen_stages=-1,
                      norm_cfg=dict(type='BN', requires_grad=True), norm_eval=True, style='pytorch'),
        neck=dict(type='FPN', in_channels=[128, 256, 512], out_channels=16, start_level=0, add_extra_convs='on_input',
                  num_outs=3),
        bbox_head=dict(
            type='RetinaHead', num_classes=1, in_channels=16, stacked_convs=1, feat_channels=16,
            anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=1,
                                  ratios=[0.5, 1.0, 2.0], strides=[8, 16, 32]),
            bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0], target_stds=[1.0, 1.0, 1.0, 1.0]),
            loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                          loss_weight=1.0), loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
        # random weights score low: keep everything, the tool's --score-thr does the filtering
        test_cfg=dict(nms_pre=200, min_bbox_size=0, score_thr=0.0, nms=dict(type='nms', iou_threshold=0.5),
                      max_per_img=20)),
    test_dataloader=dict(
        dataset=dict(
            type='CocoDataset',
            lazy_init=True,
            metainfo=dict(classes=('person', )),
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='Resize', scale=(160, 96), keep_ratio=True),  # tiny input: fast on CPU
                dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
            ])))


@pytest.fixture(scope='module')
def tool(load_tool):
    return load_tool('tools/misc/generate_person_boxes.py')


@pytest.fixture(scope='module')
def img_dir(posetrack18_fixture) -> Path:
    return posetrack18_fixture / 'images' / 'val'


@pytest.fixture(scope='module')
def ann_file(posetrack18_fixture) -> Path:
    return posetrack18_fixture / 'annotations' / 'test_posetrack18_val.json'


@pytest.fixture(scope='module')
def det_config(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp('det') / 'tiny_retinanet.py'
    Config(TINY_RETINANET).dump(str(path))
    return str(path)


@pytest.fixture(scope='module')
def checkpoint(det_config) -> str:
    """Random weights saved once, so that every run of the tool sees the same detector."""
    from mmdet.registry import MODELS
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(Config.fromfile(det_config).model)
    path = str(Path(det_config).with_suffix('.pth'))
    torch.save(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=dict(classes=('person', )))), path)
    return path


def check_boxes(entries, min_score):
    assert entries, 'a threshold this low must keep some boxes'
    for e in entries:
        assert e['category_id'] == 1 and e['score'] >= min_score
        x, y, w, h = e['bbox']
        # boxes are clipped to the original 1920 x 1080 image (not the 160 x 96 network input)
        assert 0 <= x and 0 <= y and w >= 0 and h >= 0
        assert x + w <= WIDTH + 0.01 and y + h <= HEIGHT + 0.01


def test_with_ann_file(img_dir, ann_file, tool, det_config, checkpoint, tmp_path):
    assert ann_file.is_file(), f'MMPose PoseTrack18 fixture not found at {ann_file}'
    init_default_scope('mmpose')
    scope = DefaultScope.get_current_instance()
    out = tmp_path / 'dets.json'
    argv = [det_config, str(img_dir), '--out', str(out), '--ann-file', str(ann_file), '--checkpoint', checkpoint]
    assert tool.main(argv + ['--score-thr', '0']) == 0
    entries = json.loads(out.read_text())
    check_boxes(entries, 0.)
    assert all(set(e) == {'image_id', 'bbox', 'score', 'category_id'} for e in entries)
    ann = json.loads(ann_file.read_text())
    assert {e['image_id'] for e in entries} <= {img['id'] for img in ann['images']}
    # the caller's default scope survives the detector's mmdet scope
    assert DefaultScope.get_current_instance().scope_name == scope.scope_name == 'mmpose'

    # a higher threshold keeps exactly the boxes scoring at least that much
    scores = sorted(e['score'] for e in entries)
    thr = scores[len(scores) // 2]
    assert tool.main(argv + ['--score-thr', str(thr)]) == 0
    kept = json.loads(out.read_text())
    check_boxes(kept, thr)
    assert len(kept) == sum(s >= thr for s in scores) < len(entries)


def test_without_ann_file(img_dir, ann_file, tool, det_config, tmp_path):
    out = tmp_path / 'dets.json'
    assert tool.main([det_config, str(img_dir), '--out', str(out), '--score-thr', '0']) == 0
    entries = json.loads(out.read_text())
    check_boxes(entries, 0.)
    assert all(set(e) == {'image_name', 'bbox', 'score', 'category_id'} for e in entries)
    # names as in the annotation files' file_name: relative to the folder above images/
    names = {img['file_name'] for img in json.loads(ann_file.read_text())['images']}
    assert {e['image_name'] for e in entries} <= names


def test_bad_input(img_dir, tool, det_config, tmp_path, capsys):
    missing = tmp_path / 'missing'
    assert tool.main([det_config, str(missing), '--out', str(tmp_path / 'x.json')]) == 1
    assert f'image folder {missing} does not exist' in capsys.readouterr().err
    other = tmp_path / 'other.json'
    other.write_text(json.dumps(dict(images=[dict(id=1, file_name='images/val/x/000000.jpg')])))
    assert tool.main([det_config, str(img_dir), '--out', str(tmp_path / 'x.json'), '--ann-file', str(other)]) == 1
    assert f'is listed in {other}' in capsys.readouterr().err
    assert not (tmp_path / 'x.json').exists()
