"""The synthetic Human3.6M-layout generator: MMPose's Human36mDataset loads it unchanged, the skeletons are
articulated bodies seen by the real cameras, and the 2D detections carry a real detector's errors."""
import filecmp
import pickle
from pathlib import Path

import numpy as np
import pytest

from diffpose_mm.datasets.keypoint_gmm import load_keypoint_gmm
from diffpose_mm.testing import make_synthetic_h36m
from diffpose_mm.testing.synthetic_h36m import (ANKLE_HEIGHT, H36M_FLIP_INDICES, L_FOOT, L_KNEE, R_FOOT, R_KNEE, ROOT,
                                                _forward_kinematics, _subject_bones)

TEST_DATA = Path(__file__).resolve().parents[1] / 'data'  # tests/data (MMPose fixtures)

SMALL = dict(train_subjects=('S1', 'S5'), test_subjects=('S9', ), train_subactions=1, frames=60)
BONES = ((0, 4), (4, 5), (5, 6), (0, 1), (1, 2), (2, 3), (0, 7), (7, 8), (8, 9), (9, 10), (8, 11), (11, 12), (12, 13),
         (8, 14), (14, 15), (15, 16))


@pytest.fixture(scope='module')
def root(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('synthetic_h36m')
    make_synthetic_h36m(str(out), seed=0, camera_file=str(TEST_DATA / 'h36m' / 'cameras.pkl'), **SMALL)
    return out


def _files(root: Path):
    return sorted(p.relative_to(root) for p in root.rglob('*') if p.is_file())


def test_layout_and_determinism(root, tmp_path):
    assert [str(p) for p in _files(root)] == [
        'annotation_body3d/cameras.pkl', 'annotation_body3d/fps50/h36m_test.npz',
        'annotation_body3d/fps50/h36m_train.npz', 'joint_2d_det_files/synthetic_det_test.npy',
        'joint_2d_det_files/synthetic_det_test_flags.npy', 'joint_2d_det_files/synthetic_det_test_gmm.npz',
        'joint_2d_det_files/synthetic_det_test_spread.npy', 'joint_2d_det_files/synthetic_det_train.npy',
        'joint_2d_det_files/synthetic_det_train_flags.npy', 'joint_2d_det_files/synthetic_det_train_gmm.npz',
        'joint_2d_det_files/synthetic_det_train_spread.npy', 'synthetic_h36m.json'
    ]
    again = tmp_path / 'again'
    make_synthetic_h36m(str(again), seed=0, camera_file=str(TEST_DATA / 'h36m' / 'cameras.pkl'), **SMALL)
    for f in _files(root):
        assert filecmp.cmp(root / f, again / f, shallow=False), f
    other = tmp_path / 'other'
    make_synthetic_h36m(str(other), seed=1, camera_file=str(TEST_DATA / 'h36m' / 'cameras.pkl'), **SMALL)
    a = np.load(root / 'annotation_body3d/fps50/h36m_train.npz')['S']
    assert not np.allclose(a, np.load(other / 'annotation_body3d/fps50/h36m_train.npz')['S'])


def test_annotation_fields_and_names(root):
    ann = np.load(root / 'annotation_body3d/fps50/h36m_train.npz')
    N = 2 * 4 * 1 * 4 * 60  # subjects x actions x sub-actions x cameras x frames
    assert ann['imgname'].shape == (N, ) and ann['part'].shape == (N, 17, 3) and ann['S'].shape == (N, 17, 4)
    assert ann['center'].shape == (N, 2) and ann['scale'].shape == (N, )
    assert ann['imgname'][0] == 'S1/S1_Walking.54138969/S1_Walking.54138969_000001.jpg'
    assert {n.split('/')[1].split('.')[0]
            for n in ann['imgname']
            } == {f'{s}_{a}'
                  for s in ('S1', 'S5')
                  for a in ('Walking', 'Sitting', 'Reaching', 'Turning')}
    assert (ann['part'][..., 2] == 1).all() and (ann['S'][..., 3] == 1).all()
    test = np.load(root / 'annotation_body3d/fps50/h36m_test.npz')
    assert all(n.startswith('S9/') for n in test['imgname'])


def test_skeletons_are_rigid_and_projected_by_the_real_cameras(root):
    from mmpose.utils.camera import SimpleCamera
    ann = np.load(root / 'annotation_body3d/fps50/h36m_train.npz')
    S, part, names = ann['S'][..., :3], ann['part'][..., :2], ann['imgname']
    with open(root / 'annotation_body3d/cameras.pkl', 'rb') as f:
        cameras = pickle.load(f)
    for subject in ('S1', 'S5'):
        rows = np.array([n.startswith(subject) for n in names])
        lengths = np.stack([np.linalg.norm(S[rows, a] - S[rows, b], axis=-1) for a, b in BONES], 1)
        assert lengths.std(0).max() < 1e-6  # every bone keeps its length through every motion
        assert 0.38 < lengths[0, 1] < 0.49 and 0.1 < lengths[0, 0] < 0.15  # thigh and hip of a human
    # S holds camera coordinates (m) in front of the camera; part is their distorted projection
    assert 2 < S[..., 2].min() and S[..., 2].max() < 9
    i = 100
    subject, cam = names[i].split('/')[0], names[i].split('.')[1][:8]
    assert np.allclose(SimpleCamera(cameras[(subject, cam)]).camera_to_pixel(S[i]), part[i], atol=1e-3)
    # the four views of a frame are the same pose: equal root-relative bone lengths, different 2D
    views = [j for j, n in enumerate(names) if n.startswith('S1/S1_Walking.') and n.endswith('_000010.jpg')]
    assert len(views) == 4 and not np.allclose(part[views[0]], part[views[1]])


def test_motions_respect_the_floor_and_joint_limits():
    rng = np.random.default_rng(0)
    from diffpose_mm.testing.synthetic_h36m import _angles
    bones = _subject_bones(rng)
    for action in ('Walking', 'Sitting', 'Reaching', 'Turning'):
        J = _forward_kinematics(bones, *_angles(rng, action, 100))
        feet = np.minimum(J[:, R_FOOT, 2], J[:, L_FOOT, 2])
        assert np.allclose(feet, ANKLE_HEIGHT)  # the lower ankle is on the floor
        assert (J[:, ROOT, 2] > 0.3).all() and (J[:, 10, 2] > J[:, ROOT, 2]).all()  # head above pelvis
        if action == 'Walking':
            assert np.linalg.norm(J[-1, ROOT, :2] - J[0, ROOT, :2]) > 1.0  # 2 s at >= 0.8 m/s
        if action in ('Reaching', 'Turning'):
            assert np.linalg.norm(J[-1, ROOT, :2] - J[0, ROOT, :2]) < 0.5
        # knees bend forwards only: the knee is never behind the hip-ankle line by more than a few cm
        for hip, knee, foot in ((1, R_KNEE, R_FOOT), (4, L_KNEE, L_FOOT)):
            thigh, shin = J[:, knee] - J[:, hip], J[:, foot] - J[:, knee]
            cos = (thigh * shin).sum(-1) / np.linalg.norm(thigh, axis=-1) / np.linalg.norm(shin, axis=-1)
            assert (cos > np.cos(2.65)).all()


def test_detections_have_a_detectors_errors(root):
    ann = np.load(root / 'annotation_body3d/fps50/h36m_train.npz')
    det = np.load(root / 'joint_2d_det_files/synthetic_det_train.npy')
    flags = np.load(root / 'joint_2d_det_files/synthetic_det_train_flags.npy')
    spread = np.load(root / 'joint_2d_det_files/synthetic_det_train_spread.npy')
    assert det.shape == ann['part'].shape and spread.shape == flags.shape == det.shape[:2]
    err = np.linalg.norm(det[..., :2] - ann['part'][..., :2], axis=-1)
    clean, occluded, swapped = flags == 0, flags == 1, flags == 2
    assert 0.8 < clean.mean() < 0.97 and occluded.any() and swapped.any()
    assert 2 < np.median(err[clean]) < 8  # px, like a good 2D detector
    assert np.median(err[occluded]) > 3 * np.median(err[clean])
    assert det[..., 2][occluded].mean() < 0.5 < det[..., 2][clean].mean()  # low scores where occluded
    assert det[..., 2][swapped].mean() > 0.5  # but swaps look confident
    assert np.median(spread[occluded]) > 2 * np.median(spread[clean])
    # noise is correlated in time: consecutive frame errors agree
    e = det[:-1, :, :2] - ann['part'][:-1, :, :2]
    e_next = det[1:, :, :2] - ann['part'][1:, :, :2]
    assert np.corrcoef(e[clean[:-1]].ravel(), e_next[clean[:-1]].ravel())[0, 1] > 0.3
    gmm = load_keypoint_gmm(str(root / 'joint_2d_det_files/synthetic_det_train_gmm.npz'), 17, 'h36m')
    assert np.array_equal(gmm['imgname'], ann['imgname']) and np.allclose(gmm['keypoints'], det[..., :2])
    assert np.allclose(gmm['gmm'][:, :, 1, 1:3], det[:, H36M_FLIP_INDICES, :2])  # the swap kernel


@pytest.mark.parametrize('seq_len', [1, 27])
def test_mmpose_human36m_dataset_loads_it_unchanged(root, seq_len, mmpose_scope):
    from mmpose.datasets import Human36mDataset
    ds = Human36mDataset(ann_file='annotation_body3d/fps50/h36m_test.npz', data_root=str(root), seq_len=seq_len,
                         causal=False, pad_video_seq=seq_len > 1, keypoint_2d_src='detection',
                         keypoint_2d_det_file='joint_2d_det_files/synthetic_det_test.npy',
                         camera_param_file='annotation_body3d/cameras.pkl', test_mode=True)
    assert len(ds) == 1 * 4 * 1 * 4 * 60  # every frame is a target
    info = ds[100]
    det = np.load(root / 'joint_2d_det_files/synthetic_det_test.npy')
    assert info['keypoints'].shape == (seq_len, 17, 2) and info['lifting_target'].shape == (1, 17, 3)
    row = info['img_ids'][seq_len // 2]  # the dataset orders frames by video
    assert np.allclose(info['keypoints'][seq_len // 2], det[row, :, :2])
    assert info['camera_param']['w'] == 1000


def test_missing_camera_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere.pkl'):
        make_synthetic_h36m(str(tmp_path / 'x'), camera_file=str(tmp_path / 'nowhere.pkl'))


def test_command_line_tool(load_tool, tmp_path, capsys):
    tool = load_tool('tools/dataset_converters/make_synthetic_h36m.py')
    tool.main([
        '--out',
        str(tmp_path / 'cli'), '--seed', '4', '--train-subjects', 'S1', '--test-subjects', 'S9', '--actions', 'Sitting',
        '--frames', '10', '--camera-file',
        str(TEST_DATA / 'h36m' / 'cameras.pkl')
    ])
    assert 'train_frames=80' in capsys.readouterr().out  # 1 subject x 2 clips x 4 cameras x 10 frames
    record = (tmp_path / 'cli' / 'synthetic_h36m.json').read_text()
    assert '"seed": 4' in record and '"camera_file": "cameras.pkl"' in record
