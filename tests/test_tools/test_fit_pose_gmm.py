"""tools/misc/fit_pose_gmm.py: mixtures from keypoints (with file checks) and from a top-down model's heatmaps."""
import shutil
from pathlib import Path

import numpy as np
import pytest

from diffpose_mm.datasets.keypoint_gmm import gmm_from_keypoints, load_keypoint_gmm

H36M = Path(__file__).resolve().parents[1] / 'data' / 'h36m'
FLIP = [0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13]
TINY_TOPDOWN = """
codec = dict(type='MSRAHeatmap', input_size=(48, 64), heatmap_size=(12, 16), sigma=2)
model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(type='PoseDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True),
    backbone=dict(type='ResNet', depth=18, num_stages=1, out_indices=(0, ), strides=(1, ), dilations=(1, ),
                  base_channels=8, stem_channels=8),
    head=dict(type='HeatmapHead', in_channels=8, out_channels=17, deconv_out_channels=(), deconv_kernel_sizes=(),
              loss=dict(type='KeypointMSELoss'), decoder=codec),
    test_cfg=dict(flip_test=False))
test_pipeline = [dict(type='LoadImage'), dict(type='GetBBoxCenterScale'),
                 dict(type='TopdownAffine', input_size=codec['input_size']), dict(type='PackPoseInputs')]
test_dataloader = dict(dataset=dict(type='CocoDataset', pipeline=test_pipeline,
                                    metainfo=dict(from_file='configs/_base_/datasets/coco.py')))
default_scope = 'mmpose'
"""


@pytest.fixture(scope='module')
def tool(load_tool):
    return load_tool('tools/misc/fit_pose_gmm.py')


def test_keypoints_route_remakes_the_fixture_file(tool, tmp_path):
    out = tmp_path / 'gmm.npz'
    tool.main([
        'keypoints', '--data-root',
        str(H36M), '--ann-file', 'test_h36m_body3d.npz', '--det-file', 'test_h36m_2d_detection.npy', '--sigma', '5',
        '--out',
        str(out)
    ])
    made, shipped = load_keypoint_gmm(str(out), 17,
                                      'h36m'), load_keypoint_gmm(str(H36M / 'test_h36m_2d_detection_gmm.npz'))
    det = np.load(H36M / 'test_h36m_2d_detection.npy')
    assert np.array_equal(made['gmm'], shipped['gmm'])
    assert np.allclose(made['gmm'], gmm_from_keypoints(det[..., :2], det[..., 2], 5., FLIP))
    assert list(made['imgname']) == list(np.load(H36M / 'test_h36m_body3d.npz')['imgname'])
    spread = np.full((4, 17), 3., np.float32)
    spread[:, 13] = 30
    np.save(tmp_path / 'spread.npy', spread)
    tool.main([
        'keypoints', '--data-root',
        str(H36M), '--ann-file', 'test_h36m_body3d.npz', '--from-gt', '--spread-file',
        str(tmp_path / 'spread.npy'), '--out',
        str(out)
    ])
    gt = load_keypoint_gmm(str(out))
    assert np.allclose(gt['keypoints'], np.load(H36M / 'test_h36m_body3d.npz')['part'][..., :2])
    assert gt['gmm'][0, 13, 0, 3] == 30 and gt['gmm'][0, 12, 0, 3] == 3


def test_mismatched_inputs_name_the_files(tool, tmp_path):
    det = np.load(H36M / 'test_h36m_2d_detection.npy')
    np.save(tmp_path / 'short.npy', det[:3])
    with pytest.raises(
            ValueError, match=r'short\.npy \(detections\) has 3 frames but the annotation file '
            r'.*test_h36m_body3d\.npz has 4 \(field `imgname`\)'):
        tool.main([
            'keypoints', '--data-root',
            str(H36M), '--ann-file', 'test_h36m_body3d.npz', '--det-file',
            str(tmp_path / 'short.npy'), '--sigma', '5', '--out',
            str(tmp_path / 'x.npz')
        ])
    np.save(tmp_path / 'coco.npy', det[:, :16])
    with pytest.raises(ValueError, match=r'coco\.npy \(detections\): expected \(frames, 17, 3\)'):
        tool.main([
            'keypoints', '--data-root',
            str(H36M), '--ann-file', 'test_h36m_body3d.npz', '--det-file',
            str(tmp_path / 'coco.npy'), '--sigma', '5', '--out',
            str(tmp_path / 'x.npz')
        ])
    np.save(tmp_path / 'spread.npy', np.ones((4, 16)))
    with pytest.raises(ValueError, match=r'spread file .*spread\.npy: expected \(4, 17\)'):
        tool.main([
            'keypoints', '--data-root',
            str(H36M), '--ann-file', 'test_h36m_body3d.npz', '--from-gt', '--spread-file',
            str(tmp_path / 'spread.npy'), '--out',
            str(tmp_path / 'x.npz')
        ])


def test_heatmaps_route_with_a_coco_model(tool, tmp_path, mmpose_scope):
    """A (random-weight) COCO top-down model on the fixture's images: mixtures mapped to the 17 Human3.6M
    joints and to image pixels inside each frame's box, and the detection file it writes agrees with them."""
    config = tmp_path / 'tiny_topdown.py'
    config.write_text(TINY_TOPDOWN)
    shutil.copytree(H36M, tmp_path / 'h36m')
    tool.main([
        'heatmaps', '--data-root',
        str(tmp_path / 'h36m'), '--ann-file', 'test_h36m_body3d.npz', '--config',
        str(config), '--img-prefix', '', '--joint-map', 'coco', '--num-kernels', '3', '--det-out', 'det.npy', '--out',
        'gmm.npz'
    ])
    gmm = load_keypoint_gmm(str(tmp_path / 'h36m' / 'gmm.npz'), 17, 'h36m')
    det = np.load(tmp_path / 'h36m' / 'det.npy')
    ann = np.load(H36M / 'test_h36m_body3d.npz')
    assert gmm['gmm'].shape == (4, 17, 3, 5) and det.shape == (4, 17, 3)
    assert np.allclose(gmm['keypoints'], det[..., :2])
    # the model's input region: the box, padded 1.25x by GetBBoxCenterScale, made 3:4 by TopdownAffine
    half = ann['scale'][:, None] * 100 * 1.25 * np.array([1, 4 / 3])
    means = gmm['gmm'][..., 1:3]
    inside = np.abs(means - ann['center'][:, None, None]) <= half[:, None, None] + 1
    assert inside.all(), 'every kernel lies in the model input region of its frame (heatmap -> image mapping)'
    assert 'heatmaps' in gmm['source']
    with pytest.raises(ValueError, match='predicts 17 joints.*pass --joint-map'):
        tool.main([
            'heatmaps', '--data-root',
            str(tmp_path / 'h36m'), '--ann-file', 'test_h36m_body3d.npz', '--config',
            str(config), '--metainfo', 'configs/_base_/datasets/mpii.py', '--out', 'x.npz'
        ])
