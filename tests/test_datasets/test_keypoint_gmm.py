"""The keypoint GMM file format and the two ways of making mixtures (heatmaps, keypoints)."""
import numpy as np
import pytest

from diffpose_mm.datasets.keypoint_gmm import (COCO_TO_H36M, fit_heatmap_gmm, flip_keypoint_gmm, gmm_from_keypoints,
                                               load_keypoint_gmm, map_gmm_joints, normalize_keypoint_gmm,
                                               save_keypoint_gmm)

H36M_FLIP = [0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13]


def _gaussian_map(h, w, components):
    ys, xs = np.mgrid[0:h, 0:w]
    out = np.zeros((h, w))
    for weight, (mx, my), (sx, sy) in components:
        g = np.exp(-0.5 * (((xs - mx) / sx)**2 + ((ys - my) / sy)**2))
        out += weight * g / g.sum()
    return out


def test_fit_heatmap_gmm_recovers_a_two_mode_heatmap():
    """A detector torn between two locations (e.g. a left/right swap): both modes, their weights and widths."""
    hm = _gaussian_map(40, 32, [(0.7, (10, 8), (1.5, 2.0)), (0.3, (24, 30), (2.5, 1.2))])
    gmm = fit_heatmap_gmm(hm[None], num_kernels=5, num_iters=60)
    assert gmm.shape == (1, 5, 5)
    assert gmm[0, :, 0].sum() == pytest.approx(1, abs=1e-5)
    for weight, mean, sigma in ((0.7, (10, 8), (1.5, 2.0)), (0.3, (24, 30), (2.5, 1.2))):
        near = np.linalg.norm(gmm[0, :, 1:3] - mean, axis=1) < 3  # the kernels that describe this mode
        assert gmm[0, near, 0].sum() == pytest.approx(weight, abs=0.03)
        mu = (gmm[0, near, 0:1] * gmm[0, near, 1:3]).sum(0) / gmm[0, near, 0].sum()
        assert np.allclose(mu, mean, atol=0.15)
        if near.sum() == 1:  # one kernel per mode: its width is the mode's
            assert np.allclose(gmm[0, near, 3:][0], sigma, rtol=0.15)


def test_fit_heatmap_gmm_on_an_empty_heatmap_is_one_broad_kernel():
    gmm = fit_heatmap_gmm(np.zeros((2, 8, 6)), num_kernels=3)
    assert np.allclose(gmm[:, :, 0], [[1, 0, 0]] * 2)
    assert np.allclose(gmm[0, 0, 1:], [2.5, 3.5, 3, 4])


def test_gmm_from_keypoints_detection_swap_and_occlusion_kernels():
    kpts = np.random.default_rng(0).uniform(100, 400, (2, 17, 2)).astype(np.float32)
    scores = np.full((2, 17), 0.8, np.float32)
    scores[1, 13] = 0.2  # an occluded left wrist
    gmm = gmm_from_keypoints(kpts, scores, 5.0, H36M_FLIP, num_kernels=5, swap_prob=0.1, broad_factor=4)
    assert gmm.shape == (2, 17, 5, 5)
    assert np.allclose(gmm[..., 0].sum(-1), 1)
    # left wrist (13): the detection, the right wrist's detection (16), a broad kernel; unused kernels weigh 0
    assert np.allclose(gmm[0, 13, :, 0], [0.8 * 0.9, 0.8 * 0.1, 0.2, 0, 0])
    assert np.allclose(gmm[0, 13, 0, 1:3], kpts[0, 13]) and np.allclose(gmm[0, 13, 1, 1:3], kpts[0, 16])
    assert np.allclose(gmm[0, 13, :3, 3], [5, 5, 20])
    assert np.allclose(gmm[1, 13, :3, 0], [0.2 * 0.9, 0.2 * 0.1, 0.8])
    # the root has no symmetric partner: no swap kernel
    assert np.allclose(gmm[0, 0, :3, 0], [0.8, 0, 0.2])
    spread = np.full((2, 17), 3.0)
    spread[0, 5] = 12
    assert gmm_from_keypoints(kpts, scores, spread, H36M_FLIP)[0, 5, 0, 3] == 12
    with pytest.raises(ValueError, match='num_kernels'):
        gmm_from_keypoints(kpts, scores, 5.0, H36M_FLIP, num_kernels=2)


def test_map_gmm_joints_combines_independent_mixtures():
    gmm = np.zeros((3, 2, 5), np.float32)
    gmm[0] = [[0.6, 0, 0, 2, 2], [0.4, 10, 0, 1, 1]]
    gmm[1] = [[1.0, 4, 6, 2, 4], [0.0, 0, 0, 1, 1]]
    gmm[2] = [[1.0, 7, 7, 1, 1], [0.0, 0, 0, 1, 1]]
    joint_map = np.array([[0.5, 0.5, 0], [0, 0, 1]])  # midpoint of joints 0 and 1, copy of joint 2
    out = map_gmm_joints(gmm, joint_map, num_kernels=2)
    assert out.shape == (2, 2, 5)
    assert np.allclose(out[0, :, 0], [0.6, 0.4])
    assert np.allclose(out[0, 0, 1:3], [2, 3]) and np.allclose(out[0, 1, 1:3], [7, 3])
    assert np.allclose(out[0, 0, 3:], [np.sqrt(0.25 * 4 + 0.25 * 4), np.sqrt(0.25 * 4 + 0.25 * 16)])
    assert np.allclose(out[1], gmm[2])
    assert np.allclose(COCO_TO_H36M.sum(1), 1) and COCO_TO_H36M.shape == (17, 17)


def test_flip_and_normalize_follow_the_keypoints():
    kpts = np.random.default_rng(1).uniform(0, 1000, (1, 17, 2)).astype(np.float32)
    gmm = gmm_from_keypoints(kpts, np.ones((1, 17)), 4.0, H36M_FLIP)
    flipped = flip_keypoint_gmm(gmm[0], H36M_FLIP, center_x=300.)
    expected = kpts[0, H36M_FLIP].copy()
    expected[:, 0] = 600 - expected[:, 0]
    assert np.allclose(flipped[:, 0, 1:3], expected)
    norm = normalize_keypoint_gmm(gmm[0], 1000, 1002)
    assert np.allclose(norm[:, 0, 1], (kpts[0, :, 0] - 500) / 500, atol=1e-6)
    assert np.allclose(norm[:, 0, 2], (kpts[0, :, 1] - 501) / 500, atol=1e-6)
    assert np.allclose(norm[:, 0, 3], 4 / 500)


def test_file_roundtrip_and_errors_name_the_file_and_field(tmp_path):
    kpts = np.zeros((3, 17, 2), np.float32)
    gmm = gmm_from_keypoints(kpts, np.ones((3, 17)), 5.0, H36M_FLIP)
    names = [f'S1/S1_Walking.1/S1_Walking.1_{i:06d}.jpg' for i in range(3)]
    path = str(tmp_path / 'gmm.npz')
    save_keypoint_gmm(path, names, gmm, kpts, 'h36m', source='test')
    data = load_keypoint_gmm(path, num_keypoints=17, dataset_name='h36m')
    assert np.array_equal(data['gmm'], gmm) and list(data['imgname']) == names and data['source'] == 'test'
    with pytest.raises(FileNotFoundError, match='missing.npz'):
        load_keypoint_gmm(str(tmp_path / 'missing.npz'))
    with pytest.raises(ValueError, match=r'gmm\.npz: field `dataset_name` is .coco.*another dataset'):
        save_keypoint_gmm(path, names, gmm, kpts, 'coco')
        load_keypoint_gmm(path, dataset_name='h36m')
    save_keypoint_gmm(path, names, gmm, kpts, 'h36m')
    with pytest.raises(ValueError, match=r'gmm\.npz: field `gmm` has 17 joints, the dataset has 16'):
        load_keypoint_gmm(path, num_keypoints=16)
    bad = gmm.copy()
    bad[..., 0] *= 2
    with pytest.raises(ValueError, match='field `gmm` weights'):
        save_keypoint_gmm(path, names, bad, kpts, 'h36m')
    with pytest.raises(ValueError, match='field `keypoints`'):
        save_keypoint_gmm(path, names, gmm, kpts[:, :16], 'h36m')
    np.savez(path, imgname=np.array(names), gmm=gmm)
    with pytest.raises(ValueError, match=r"missing field\(s\) \['keypoints', 'dataset_name', 'source'\]"):
        load_keypoint_gmm(path)
