"""LoadKeypointGMM in MMPose's lifting pipeline: rows of the target frame, flips, normalisation, file checks."""
from pathlib import Path

import numpy as np
import pytest

from diffpose_mm.datasets.keypoint_gmm import gmm_from_keypoints, load_keypoint_gmm, save_keypoint_gmm
from diffpose_mm.datasets.transforms import LoadKeypointGMM
from diffpose_mm.testing import make_synthetic_h36m
from diffpose_mm.testing.synthetic_h36m import H36M_FLIP_INDICES

TEST_DATA = Path(__file__).resolve().parents[2] / 'data'  # tests/data (MMPose fixtures)

GMM = 'joint_2d_det_files/synthetic_det_{}_gmm.npz'


@pytest.fixture(scope='module')
def root(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('synthetic_h36m')
    make_synthetic_h36m(
        str(out), seed=3, train_subjects=('S1', ), test_subjects=('S9', ), actions=('Walking', ), train_subactions=1,
        frames=30, camera_file=str(TEST_DATA / 'h36m' / 'cameras.pkl'))
    return out


def dataset(root, pipeline, split='test', seq_len=1, **kwargs):
    from mmpose.datasets import Human36mDataset
    args = dict(ann_file=f'annotation_body3d/fps50/h36m_{split}.npz', data_root=str(root), seq_len=seq_len,
                causal=False, pad_video_seq=seq_len > 1, keypoint_2d_src='detection',
                keypoint_2d_det_file=f'joint_2d_det_files/synthetic_det_{split}.npy',
                camera_param_file='annotation_body3d/cameras.pkl', pipeline=pipeline, test_mode=True)
    args.update(kwargs)
    return Human36mDataset(**args)


@pytest.mark.parametrize('seq_len', [1, 9])
def test_target_frame_mixtures_in_codec_units(root, seq_len):
    load = LoadKeypointGMM(str(root / GMM.format('test')), dataset_name='h36m')
    ds = dataset(root, [load], seq_len=seq_len)
    gmm = load_keypoint_gmm(str(root / GMM.format('test')))['gmm']
    for i in (0, 17, len(ds) - 1):
        out = ds[i]
        row = out['img_ids'][seq_len // 2]
        w, h = out['camera_param']['w'], out['camera_param']['h']
        assert out['keypoint_gmm'].shape == (17, 5, 5) and out['keypoint_gmm'].dtype == np.float32
        assert np.allclose(out['keypoint_gmm'][..., 1], (gmm[row, ..., 1] - w / 2) / (w / 2), atol=1e-6)
        assert np.allclose(out['keypoint_gmm'][..., 2], (gmm[row, ..., 2] - h / 2) / (w / 2), atol=1e-6)
        assert np.allclose(out['keypoint_gmm'][..., 3:], gmm[row, ..., 3:] / (w / 2))
        assert np.array_equal(out['keypoint_gmm'][..., 0], gmm[row, ..., 0])


@pytest.mark.parametrize('flip_cfg', [dict(center_mode='root', center_index=0), dict()])  # root; MMPose's default
def test_flipped_samples_get_mirrored_mixtures(root, flip_cfg):
    """After RandomFlipAroundRoot (whatever its centre) the detection kernel still sits on the 2D input."""
    flip = dict(type='RandomFlipAroundRoot', keypoints_flip_cfg=flip_cfg, target_flip_cfg=flip_cfg, flip_prob=1.)
    gmm_file = str(root / GMM.format('train'))
    ds = dataset(root, [flip, dict(type='LoadKeypointGMM', gmm_file=gmm_file)], split='train')
    out = ds[5]
    w, h = out['camera_param']['w'], out['camera_param']['h']
    expected = (out['keypoints'][0] - [w / 2, h / 2]) / (w / 2)  # the flipped input, in codec units
    assert np.allclose(out['keypoint_gmm'][:, 0, 1:3], expected, atol=1e-5)
    # the swap kernel of a left joint is the (flipped) right joint's detection
    assert np.allclose(out['keypoint_gmm'][:, 1, 1:3], expected[list(H36M_FLIP_INDICES)], atol=1e-5)
    unflipped = dataset(root, [dict(type='LoadKeypointGMM', gmm_file=gmm_file)], split='train')[5]
    assert not np.allclose(unflipped['keypoint_gmm'][:, 0, 1], out['keypoint_gmm'][:, 0, 1])


def test_a_file_for_another_split_or_2d_source_is_named(root, tmp_path):
    with pytest.raises(ValueError, match=r'_train_gmm\.npz, field `imgname`: row .* another dataset or split'):
        dataset(root, [LoadKeypointGMM(str(root / GMM.format('train')))])[0]
    ann = np.load(root / 'annotation_body3d/fps50/h36m_test.npz')
    gt_gmm = str(tmp_path / 'gt_gmm.npz')  # made from the GT 2D, used with detections
    save_keypoint_gmm(gt_gmm, ann['imgname'],
                      gmm_from_keypoints(ann['part'][..., :2], ann['part'][..., 2], 5., H36M_FLIP_INDICES),
                      ann['part'][..., :2], 'h36m')
    with pytest.raises(ValueError, match=r'gt_gmm\.npz, field `keypoints`: frame .* other 2D keypoints'):
        dataset(root, [LoadKeypointGMM(gt_gmm)])[0]
    with pytest.raises(ValueError, match=r'field `dataset_name` is .h36m., the dataset is .coco.'):
        dataset(root, [LoadKeypointGMM(str(root / GMM.format('test')), dataset_name='coco')])[0]


def test_missing_camera_parameters_name_camera_param_file(root):
    ds = dataset(root, [LoadKeypointGMM(str(root / GMM.format('test')))], camera_param_file=None)
    with pytest.raises(KeyError, match='camera_param_file'):
        ds[0]
