"""LoadVideoFrames, and the stock MMPose top-down pipeline applied to its frame lists."""
import copy
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from mmcv.transforms import Compose
from mmpose.datasets.datasets.utils import parse_pose_metainfo
from mmpose.registry import TRANSFORMS
from mmpose.structures.bbox import get_warp_matrix

from diffpose_mm.datasets import PoseTrackVideoDataset
from diffpose_mm.datasets.transforms import LoadVideoFrames

INPUT_SIZE = (48, 64)  # (w, h)
HEATMAP_SIZE = (12, 16)
CODEC = dict(type='MSRAHeatmap', input_size=INPUT_SIZE, heatmap_size=HEATMAP_SIZE, sigma=2)
META = parse_pose_metainfo(PoseTrackVideoDataset.METAINFO)
META_KEYS = ('id', 'img_id', 'img_path', 'ori_shape', 'img_shape', 'input_size', 'input_center', 'input_scale', 'flip',
             'flip_direction', 'flip_indices', 'bbox_rotation')


def stock_pipeline(flip_prob=0.5, rotate_prob=0.6, with_pack=True):
    """The MMPose training pipeline the video model uses (LoadVideoFrames first)."""
    cfgs = [
        dict(type='LoadVideoFrames'),
        dict(type='GetBBoxCenterScale', padding=1.25),
        dict(type='RandomFlip', direction='horizontal', prob=flip_prob),
        dict(type='RandomHalfBody'),
        dict(type='RandomBBoxTransform', rotate_factor=45, scale_factor=(0.65, 1.35), rotate_prob=rotate_prob),
        dict(type='TopdownAffine', input_size=INPUT_SIZE),
        dict(type='GenerateTarget', encoder=CODEC),
    ]
    if with_pack:
        cfgs.append(dict(type='PackPoseInputs', meta_keys=META_KEYS))
    return Compose([TRANSFORMS.build(c) for c in cfgs])


def write_frames(tmp_path, frames):
    paths = []
    for k, frame in enumerate(frames):
        path = str(tmp_path / f'{k:06d}.png')  # lossless, so pixels are exact
        cv2.imwrite(path, frame)
        paths.append(path)
    return paths


def sample(paths, keypoints=None, bbox=(20., 10., 60., 90.)):
    if keypoints is None:
        keypoints = np.random.default_rng(0).uniform([25, 15], [55, 85], size=(17, 2))
    visible = np.ones((1, 17), np.float32)
    visible[0, 3:5] = 0  # PoseTrack ears
    return dict(frame_paths=paths, img_path=paths[len(paths) // 2], id=0, img_id=0, bbox=np.array([bbox], np.float32),
                bbox_score=np.ones(1, np.float32), keypoints=np.asarray(keypoints, np.float32).reshape(1, 17, 2),
                keypoints_visible=visible, flip_indices=META['flip_indices'], upper_body_ids=META['upper_body_ids'],
                lower_body_ids=META['lower_body_ids'])


# ----------------------------------------------------------------------------- LoadVideoFrames
def test_loads_frames_in_order(synthetic_root):
    ds = PoseTrackVideoDataset(ann_file='annotations/posetrack18_train.json', data_root=str(synthetic_root),
                               num_adjacent=2, pipeline=[dict(type='LoadVideoFrames')])
    results = ds[3]
    assert isinstance(results['img'], list) and len(results['img']) == 5
    for img, path in zip(results['img'], results['frame_paths']):
        np.testing.assert_array_equal(img, cv2.imread(path))
    assert results['img_shape'] == results['ori_shape'] == (240, 320)
    # neighbouring synthetic frames differ (the figures move)
    assert not np.array_equal(results['img'][0], results['img'][4])


def test_to_float32_and_already_loaded_frames(tmp_path):
    frames = [np.full((6, 8, 3), k, np.uint8) for k in range(3)]
    paths = write_frames(tmp_path, frames)
    out = LoadVideoFrames(to_float32=True)(dict(frame_paths=paths))
    assert all(f.dtype == np.float32 for f in out['img'])
    assert [f[0, 0, 0] for f in out['img']] == [0.0, 1.0, 2.0]
    out = LoadVideoFrames()(dict(img=frames))
    assert out['img'] is frames and out['img_shape'] == (6, 8)


def test_missing_and_corrupt_frames(tmp_path):
    paths = write_frames(tmp_path, [np.zeros((6, 8, 3), np.uint8)] * 2)
    missing = str(tmp_path / 'nope.jpg')
    with pytest.raises(FileNotFoundError, match='nope.jpg'):
        LoadVideoFrames()(dict(frame_paths=[paths[0], missing]))
    corrupt = tmp_path / 'corrupt.jpg'
    corrupt.write_bytes(b'\xff\xd8\xff\xe0 this is not a jpeg')
    with pytest.raises(ValueError, match='corrupt.jpg'):
        LoadVideoFrames()(dict(frame_paths=[paths[0], str(corrupt), paths[1]]))
    other_size = str(tmp_path / 'big.png')
    cv2.imwrite(other_size, np.zeros((7, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r'big\.png has size \(7, 8\)'):
        LoadVideoFrames()(dict(frame_paths=[paths[0], other_size]))
    with pytest.raises(KeyError, match='frame_paths'):
        LoadVideoFrames()(dict(img_path=paths[0]))


def test_real_posetrack_frames_with_nearest_missing_frames(posetrack18_fixture):
    """MMPose's PoseTrack18 fixture (TEST_DATA / 'posetrack18') has no neighbouring frames: with
    missing_frame='nearest' every supporting frame is the key frame, loaded as MMPose's LoadImage loads it."""
    root = posetrack18_fixture
    ds = PoseTrackVideoDataset(
        ann_file=str(root / 'annotations' / 'test_posetrack18_val.json'), data_root=str(root), data_prefix=dict(img=''),
        test_mode=True, num_adjacent=2, missing_frame='nearest', pipeline=[dict(type='LoadVideoFrames')])
    single = TRANSFORMS.build(dict(type='LoadImage'))
    for i in (0, len(ds) - 1):
        results = ds[i]
        assert results['frame_paths'] == [results['img_path']] * 5
        key = single(dict(img_path=results['img_path']))
        assert len(results['img']) == 5 and results['img_shape'] == key['img_shape']
        for img in results['img']:
            np.testing.assert_array_equal(img, key['img'])
            np.testing.assert_array_equal(img, cv2.imread(results['img_path']))


def test_loading_options(tmp_path):
    rng = np.random.default_rng(2)
    frames = [rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8) for _ in range(2)]
    paths = write_frames(tmp_path, frames)
    gray = LoadVideoFrames(color_type='grayscale')(dict(frame_paths=paths))['img']
    for img, path in zip(gray, paths):
        assert img.shape == (6, 8)
        np.testing.assert_array_equal(img, cv2.imread(path, cv2.IMREAD_GRAYSCALE))
    pillow = LoadVideoFrames(imdecode_backend='pillow')(dict(frame_paths=paths))['img']
    for img, frame in zip(pillow, frames):
        np.testing.assert_array_equal(img, frame)  # BGR, as with cv2
    out = LoadVideoFrames(backend_args=dict(backend='local'))(dict(frame_paths=paths))
    np.testing.assert_array_equal(out['img'][1], frames[1])
    assert repr(LoadVideoFrames(to_float32=True, backend_args=dict(
        backend='local'))) == ("LoadVideoFrames(to_float32=True, color_type='color', imdecode_backend='cv2', "
                               "backend_args={'backend': 'local'})")


def test_read_errors_other_than_missing_files_pass_through(tmp_path):
    paths = write_frames(tmp_path, [np.zeros((6, 8, 3), np.uint8)])
    folder = tmp_path / 'frame_dir.png'
    folder.mkdir()
    with pytest.raises(OSError, match='frame_dir.png') as info:
        LoadVideoFrames()(dict(frame_paths=[paths[0], str(folder)]))
    assert not isinstance(info.value, FileNotFoundError)
    empty = tmp_path / 'empty.png'
    empty.write_bytes(b'')
    with pytest.raises(ValueError, match='empty.png'):
        LoadVideoFrames()(dict(frame_paths=[str(empty)]))
    if os.name == 'posix' and os.geteuid() != 0:
        locked = tmp_path / 'locked.png'
        locked.write_bytes(b'')
        locked.chmod(0)
        with pytest.raises(PermissionError, match='locked.png'):
            LoadVideoFrames()(dict(frame_paths=[str(locked)]))


# ----------------------------------------------------------------------------- shared geometry
@pytest.mark.parametrize('seed', range(4))
def test_every_frame_gets_the_same_flip_and_warp(tmp_path, seed):
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 256, size=(100, 80, 3), dtype=np.uint8) for _ in range(5)]
    paths = write_frames(tmp_path, frames)
    np.random.seed(seed)  # the MMPose transforms draw from numpy's global state
    packed = stock_pipeline(flip_prob=1.0, rotate_prob=1.0)(sample(paths))
    meta = packed['data_samples'].metainfo
    assert meta['flip'] and meta['bbox_rotation'][0] != 0
    warp = get_warp_matrix(meta['input_center'], meta['input_scale'], meta['bbox_rotation'][0], output_size=INPUT_SIZE)
    inputs = packed['inputs'].numpy()
    assert inputs.shape == (5, 3, INPUT_SIZE[1], INPUT_SIZE[0])
    for k, frame in enumerate(frames):
        expected = cv2.warpAffine(cv2.flip(frame, 1), warp, INPUT_SIZE, flags=cv2.INTER_LINEAR)
        np.testing.assert_array_equal(inputs[k], expected.transpose(2, 0, 1))


def test_identical_frames_give_identical_crops(tmp_path):
    frame = np.random.default_rng(1).integers(0, 256, size=(100, 80, 3), dtype=np.uint8)
    paths = write_frames(tmp_path, [frame] * 5)
    for seed in range(3):
        np.random.seed(seed)
        inputs = stock_pipeline()(sample(paths))['inputs']
        for k in range(1, 5):
            assert (inputs[k] == inputs[0]).all()


def _blob_centroid(img):
    w = img[..., 0].astype(np.float64)  # black background: plain intensity-weighted mean
    ys, xs = np.mgrid[:w.shape[0], :w.shape[1]]
    return np.array([(w * xs).sum(), (w * ys).sum()]) / w.sum()


def test_translated_frames_stay_translated(tmp_path):
    # frame k shows a blob at p0 + k*d: a shared affine maps it to q0 + k*A*d, i.e. equal steps
    d = np.array([3.0, 2.0])
    frames = []
    for k in range(5):
        img = np.zeros((100, 80, 3), np.uint8)
        cx, cy = np.array([30.0, 40.0]) + k * d
        cv2.circle(img, (int(cx * 16), int(cy * 16)), 6 * 16, (255, 255, 255), -1, cv2.LINE_AA, shift=4)
        frames.append(cv2.GaussianBlur(img, (0, 0), 3))
    paths = write_frames(tmp_path, frames)
    np.random.seed(3)
    packed = stock_pipeline(flip_prob=0.0, rotate_prob=1.0)(sample(paths))
    meta = packed['data_samples'].metainfo
    inputs = packed['inputs'].numpy().transpose(0, 2, 3, 1)
    centroids = np.stack([_blob_centroid(img) for img in inputs])
    steps = np.diff(centroids, axis=0)
    np.testing.assert_allclose(steps, np.repeat(steps.mean(0, keepdims=True), 4, 0), atol=0.05)
    scale = INPUT_SIZE[0] / meta['input_scale'][0]
    np.testing.assert_allclose(np.linalg.norm(steps.mean(0)), scale * np.linalg.norm(d), rtol=0.05)


# ----------------------------------------------------------------------------- targets
def _image_coords(hm_xy, center, scale):
    """Inverse of the rotation-free top-down warp followed by the heatmap downscale."""
    w, h = INPUT_SIZE
    input_xy = np.asarray(hm_xy, np.float64) * (w / HEATMAP_SIZE[0])
    return center + (input_xy - np.array([w, h]) / 2) * (scale / np.array([w, h]))


def test_heatmap_peaks_at_key_frame_keypoints(tmp_path):
    paths = write_frames(tmp_path, [np.zeros((100, 80, 3), np.uint8)] * 3)
    bbox = (20., 10., 60., 90.)  # center (40, 50), padded (50, 100) -> aspect 3:4 -> (75, 100)
    center, scale = np.array([40., 50.]), np.array([75., 100.])
    rng = np.random.default_rng(0)
    targets = np.stack([rng.integers(1, HEATMAP_SIZE[0] - 1, 17), rng.integers(1, HEATMAP_SIZE[1] - 1, 17)], axis=1)
    keypoints = np.stack([_image_coords(t, center, scale) for t in targets])
    pipeline = Compose([
        TRANSFORMS.build(c)
        for c in (dict(type='LoadVideoFrames'), dict(type='GetBBoxCenterScale', padding=1.25),
                  dict(type='TopdownAffine', input_size=INPUT_SIZE), dict(type='GenerateTarget', encoder=CODEC),
                  dict(type='PackPoseInputs', meta_keys=META_KEYS))
    ])
    packed = pipeline(sample(paths, keypoints, bbox))
    np.testing.assert_allclose(packed['data_samples'].metainfo['input_scale'], scale)
    heatmaps = packed['data_samples'].gt_fields.heatmaps.numpy()
    weights = packed['data_samples'].gt_instance_labels.keypoint_weights.numpy()[0]
    # one set of targets (the key frame's), not one per frame
    assert heatmaps.shape == (17, HEATMAP_SIZE[1], HEATMAP_SIZE[0])
    assert packed['inputs'].shape[0] == 3
    for j in range(17):
        if j in (3, 4):  # unlabelled ears: no target
            assert weights[j] == 0
            continue
        y, x = np.unravel_index(heatmaps[j].argmax(), heatmaps[j].shape)
        assert (x, y) == tuple(targets[j]) and heatmaps[j].max() == pytest.approx(1.0)


def test_flip_swaps_and_mirrors_targets(tmp_path):
    paths = write_frames(tmp_path, [np.zeros((100, 80, 3), np.uint8)] * 3)
    results = sample(paths, bbox=(10., 10., 70., 90.))
    out = {}
    for flip in (False, True):
        pipeline = stock_pipeline(flip_prob=float(flip), rotate_prob=0.0, with_pack=False)
        # no half-body / shift / scale randomness: isolate the flip
        pipeline.transforms[3] = TRANSFORMS.build(dict(type='RandomHalfBody', prob=0.0))
        pipeline.transforms[4] = TRANSFORMS.build(
            dict(type='RandomBBoxTransform', shift_prob=0.0, scale_prob=0.0, rotate_prob=0.0))
        out[flip] = pipeline(copy.deepcopy(results))['heatmaps']
    flip_indices = META['flip_indices']
    for j in range(17):
        if j in (3, 4):
            continue
        y, x = np.unravel_index(out[True][j].argmax(), out[True][j].shape)
        y0, x0 = np.unravel_index(out[False][flip_indices[j]].argmax(), out[False][j].shape)
        assert y == y0 and abs(x - (HEATMAP_SIZE[0] - 1 - x0)) <= 1


def test_dataset_end_to_end(synthetic_root):
    ds = PoseTrackVideoDataset(ann_file='annotations/posetrack18_val.json', data_root=str(synthetic_root),
                               num_adjacent=2, pipeline=stock_pipeline().transforms)
    packed = ds[0]
    assert packed['inputs'].shape == (5, 3, INPUT_SIZE[1], INPUT_SIZE[0])
    assert packed['data_samples'].gt_fields.heatmaps.shape == (17, HEATMAP_SIZE[1], HEATMAP_SIZE[0])
    meta = packed['data_samples'].metainfo
    assert isinstance(meta['img_path'], str) and osp.isfile(meta['img_path'])
    assert meta['ori_shape'] == (240, 320)
