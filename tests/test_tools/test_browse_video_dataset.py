"""tools/analysis/browse_video_dataset.py on a tiny synthetic PoseTrack18-layout dataset."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData
from mmpose.datasets.datasets.utils import parse_pose_metainfo
from mmpose.visualization import PoseLocalVisualizer

from diffpose_mm.datasets import PoseTrackVideoDataset
from diffpose_mm.testing import make_synthetic_posetrack

# MMPose's OpenCV visualizer passes a 1-element radius array to int()
pytestmark = pytest.mark.filterwarnings('ignore:Conversion of an array with ndim:DeprecationWarning')

INPUT_W, INPUT_H = 48, 64
NUM_ADJACENT = 2
T = 2 * NUM_ADJACENT + 1

CONFIG = """
custom_imports = dict(imports=['diffpose_mm'], allow_failed_imports=False)
default_scope = 'mmpose'
codec = dict(type='MSRAHeatmap', input_size=({w}, {h}), heatmap_size=({hw}, {hh}), sigma=2)
pipeline = [
    dict(type='LoadVideoFrames'),
    dict(type='GetBBoxCenterScale', padding=1.25),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
dataset = dict(type='PoseTrackVideoDataset', data_root='{root}', data_mode='topdown',
               data_prefix=dict(img=''), num_adjacent={delta}, pipeline=pipeline)
train_dataloader = dict(
    batch_size=2, dataset=dict(dataset, ann_file='annotations/posetrack18_train.json'))
val_dataloader = dict(
    batch_size=2, dataset=dict(dataset, ann_file='annotations/posetrack18_val.json'))
"""


@pytest.fixture(scope='module')
def cli(load_tool):
    return load_tool('tools/analysis/browse_video_dataset.py')


@pytest.fixture(scope='module')
def config(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp('synthetic')
    # val: 9 frames labelled at 0, 4, 8 -> key frames at both video borders
    make_synthetic_posetrack(
        str(root), seed=0, num_train_videos=1, num_val_videos=1, train_frames=12, val_frames=9, img_size=(160, 120))
    path = root / 'browse_cfg.py'
    path.write_text(
        CONFIG.format(w=INPUT_W, h=INPUT_H, hw=INPUT_W // 4, hh=INPUT_H // 4, root=str(root), delta=NUM_ADJACENT))
    return str(path)


def _panels(path: str, num_panels: int):
    img = cv2.imread(path)
    assert img is not None, f'{path} is not a readable image'
    assert img.shape[1] % num_panels == 0
    return img, np.split(img, num_panels, axis=1)


def test_pipeline_phase(cli, config, tmp_path):
    out_dir = tmp_path / 'out'
    files = cli.main([config, '--split', 'val', '--num', '10', '--out-dir', str(out_dir)])
    # the 3 labelled val frames (one person each), named after video and key frame
    assert sorted(osp.basename(f)[6:] for f in files) == [f'200001_synth_val_{i:06d}.png' for i in (0, 4, 8)]
    zoom = -(-cli.MIN_PIPELINE_HEIGHT // INPUT_H)
    for f in files:
        assert osp.isfile(f)
        img = cv2.imread(f)
        # 2δ+1 frames + the heatmap panel, each the zoomed network input
        assert img.shape == (INPUT_H * zoom, (T + 1) * INPUT_W * zoom, 3)

    label_h = INPUT_H * zoom // 4  # skip the panel labels, which differ by design
    by_key = {osp.basename(f)[-10:-4]: f for f in files}
    _, panels = _panels(by_key['000000'], T + 1)
    # key frame 0: t-2 and t-1 are clamped to frame 0, as is the key frame itself
    assert np.array_equal(panels[0][label_h:], panels[1][label_h:])
    # ... but t+1, t+2 are later frames: the figure moved
    diff = np.abs(panels[3][label_h:].astype(int) - panels[4][label_h:].astype(int))
    assert diff.mean() > 1.0
    _, panels = _panels(by_key['000004'], T + 1)
    for a, b in ((0, 1), (1, 3), (3, 4)):
        diff = np.abs(panels[a][label_h:].astype(int) - panels[b][label_h:].astype(int))
        assert diff.mean() > 1.0
    # the key frame is outlined: its border pixels differ from the faint neighbours'
    assert not np.array_equal(panels[NUM_ADJACENT][-1], panels[NUM_ADJACENT + 1][-1])
    # the heatmap panel is a colour map, unlike the key frame under it
    assert np.abs(panels[T].astype(int) - panels[NUM_ADJACENT].astype(int)).mean() > 10


def test_original_phase_and_no_targets(cli, config, tmp_path):
    files = cli.main([config, '--split', 'train', '--num', '2', '--phase', 'original', '--out-dir', str(tmp_path)])
    assert len(files) == 2
    img = cv2.imread(files[0])
    assert img.shape == (120, T * 160, 3)  # full frames (<= 640 px: not resized), no heatmap panel


def test_bad_config(cli, config, tmp_path):
    with pytest.raises(ValueError, match='test_dataloader.*train_dataloader'):
        cli.main([config, '--split', 'test', '--out-dir', str(tmp_path)])
    bad = tmp_path / 'bad_cfg.py'
    bad.write_text(f"_base_ = ['{config}']\n"
                   'train_dataloader = dict(dataset=dict('
                   "pipeline=[dict(type='LoadVideoFrames')]))\n")
    with pytest.raises(ValueError, match='must end with PackPoseInputs'):
        cli.main([str(bad), '--out-dir', str(tmp_path)])
    with pytest.raises(SystemExit):
        cli.main([config, '--num', '0'])


def test_render_sample_draws_key_skeleton(cli, mmpose_scope):
    meta = parse_pose_metainfo(PoseTrackVideoDataset.METAINFO)
    vis = PoseLocalVisualizer(name='test_browse_render', radius=3, line_width=1)
    vis.set_dataset_meta(meta)
    h, w, grey = 96, 80, 128
    frames = [np.full((h, w, 3), grey, np.uint8) for _ in range(3)]
    # keypoints on a grid, further apart than the circles' diameter, in a shuffled order
    order = np.random.default_rng(0).permutation(17)
    kpts = np.stack([16 + 12 * (order % 5), 24 + 12 * (order // 5)], axis=-1)[None].astype(float)
    visible = np.ones((1, 17))
    visible[0, 3:5] = 0  # unlabelled ears (placed apart from the rest) must not be drawn
    kpts[0, 3:5] = [[70, 88], [72, 88]]
    inst = InstanceData(keypoints=kpts, keypoints_visible=visible)
    heatmaps = torch.zeros(17, h // 4, w // 4)
    heatmaps[5, 10, 7] = 1.0  # one peak at heatmap (x=7, y=10) -> image ~(29.5, 41.5)
    img = cli.render_sample(vis, frames, 1, inst, ['a', 'b', 'c'], heatmaps)
    assert img.shape == (h, 4 * w, 3)
    colors = np.asarray(meta['keypoint_colors'])
    key, faint = img[:, w:2 * w].astype(int), img[:, :w].astype(int)
    for k in np.flatnonzero(visible[0]):
        x, y = kpts[0, k].astype(int)
        assert np.abs(key[y, x] - colors[k]).max() <= 1
        expected = (1 - cli.FAINT_ALPHA) * grey + cli.FAINT_ALPHA * colors[k]
        assert np.abs(faint[y, x] - expected).max() <= 2
    assert (key[88, 68:75] == grey).all() and (faint[88, 68:75] == grey).all()
    # supporting frames get the skeleton, not the outline; the key frame gets the outline
    assert (faint[30:, 0] == grey).all()  # below the label
    assert (key[:, 0] == cli.KEY_COLOR).all()
    heat = img[:, 3 * w:].astype(int)
    # jet colour map: red-ish at the peak, blue-ish far from it
    assert heat[41, 29, 0] > heat[41, 29, 2] and heat[90, 75, 2] > heat[90, 75, 0]
