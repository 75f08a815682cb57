"""CheckedHuman36mDataset: MMPose's Human36mDataset, its files checked with errors naming file and field."""
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from diffpose_mm.datasets import CheckedHuman36mDataset

TEST_DATA = Path(__file__).resolve().parents[1] / 'data'  # tests/data (MMPose fixtures)

H36M = TEST_DATA / 'h36m'


def args(root: Path, **kwargs) -> dict:
    out = dict(ann_file='test_h36m_body3d.npz', data_root=str(root), seq_len=1, keypoint_2d_src='detection',
               keypoint_2d_det_file='test_h36m_2d_detection.npy', camera_param_file='cameras.pkl', test_mode=True)
    out.update(kwargs)
    return out


@pytest.fixture
def copy(tmp_path) -> Path:
    for name in ('test_h36m_body3d.npz', 'test_h36m_2d_detection.npy', 'cameras.pkl'):
        shutil.copyfile(H36M / name, tmp_path / name)
    return tmp_path


@pytest.mark.parametrize('seq_len', [1, 27])
def test_same_samples_as_mmpose_on_the_real_fixture(seq_len):
    from mmpose.datasets import Human36mDataset
    kw = args(H36M, seq_len=seq_len, pad_video_seq=seq_len > 1, causal=False)
    ours, theirs = CheckedHuman36mDataset(**kw), Human36mDataset(**kw)
    assert len(ours) == len(theirs) == 4
    for i in range(4):
        a, b = ours.get_data_info(i), theirs.get_data_info(i)
        assert a.keys() == b.keys()
        for key in ('keypoints', 'lifting_target', 'img_ids'):
            assert np.array_equal(a[key], b[key])
    assert ours[0]['camera_param']['id'] == '54138969'


def test_missing_camera_file(copy):
    (copy / 'cameras.pkl').unlink()
    with pytest.raises(FileNotFoundError, match=r'camera_param_file .*cameras\.pkl does not exist'):
        CheckedHuman36mDataset(**args(copy))


def test_camera_file_without_the_subjects_camera(copy):
    with open(copy / 'cameras.pkl', 'rb') as f:
        cams = pickle.load(f)
    del cams[('S7', '55011271')]
    with open(copy / 'cameras.pkl', 'wb') as f:
        pickle.dump(cams, f)
    with pytest.raises(KeyError, match=r"cameras\.pkl has no camera \('S7', '55011271'\)"):
        CheckedHuman36mDataset(**args(copy))


def test_2d_3d_frame_count_mismatch(copy):
    det = np.load(copy / 'test_h36m_2d_detection.npy')
    np.save(copy / 'test_h36m_2d_detection.npy', det[:3])
    with pytest.raises(
            ValueError, match=r'keypoint_2d_det_file .*test_h36m_2d_detection\.npy has 3 frames but the '
            r'annotation file .*test_h36m_body3d\.npz has 4 \(field `imgname`\)'):
        CheckedHuman36mDataset(**args(copy))


def test_wrong_joint_count(copy):
    det = np.load(copy / 'test_h36m_2d_detection.npy')
    np.save(copy / 'test_h36m_2d_detection.npy', det[:, :16])
    with pytest.raises(ValueError, match=r'test_h36m_2d_detection\.npy: expected \(frames, 17, 3\).*got \(4, 16, 3\)'):
        CheckedHuman36mDataset(**args(copy))
    ann = dict(np.load(H36M / 'test_h36m_body3d.npz'))
    ann['S'] = ann['S'][:, :16]
    np.savez(copy / 'test_h36m_body3d.npz', **ann)
    with pytest.raises(ValueError, match=r'test_h36m_body3d\.npz, field `S`: expected \(4, 17, 4\).*got \(4, 16, 4\)'):
        CheckedHuman36mDataset(**args(copy, keypoint_2d_src='gt'))
