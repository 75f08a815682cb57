"""Per-joint 2D Gaussian mixtures (DiffPose-3D's pose-specific initialisation): file format and fitting.

DiffPose-3D (Gong et al., CVPR 2023) starts its reverse diffusion from a distribution built from the 2D
detector's heatmaps: per frame and joint a mixture of ``M`` Gaussians (``M = 5`` in the paper) in the image.
The authors distribute such files for Human3.6M (``data_2d_h36m_*_gmm.npz``) but **not the code that made
them**, so this module makes them from what a user has:

- :func:`fit_heatmap_gmm`: a weighted EM fit to the heatmaps of any MMPose top-down model (the paper's route;
  ``tools/misc/fit_pose_gmm.py heatmaps`` runs the model), optionally mapped to another joint set by
  :func:`map_gmm_joints` (e.g. COCO -> Human3.6M, :data:`COCO_TO_H36M`);
- :func:`gmm_from_keypoints`: a mixture built from keypoints, scores and a per-joint scale when only keypoints
  exist (e.g. the ``keypoint_spread`` of this project's video DiffPose): the detection, a left/right swap
  with its symmetric joint, and a broad kernel for the chance that the joint is occluded.

File format (``.npz``, frame-aligned with the Human3.6M annotation file it was made for)::

    imgname       (N,)          str      image name of every frame (as in the annotation file)
    gmm           (N, K, M, 5)  float32  per joint: (weight π, μx, μy, σx, σy), pixels; π sums to 1 over M
    keypoints     (N, K, 2)     float32  the 2D keypoints (the lifter's input) the mixtures belong to
    dataset_name  ()            str      e.g. 'h36m' (MMPose metainfo ``dataset_name``)
    source        ()            str      how it was made (free text)

:func:`load_keypoint_gmm` checks a file and names the file and the field of any problem.
"""
import os.path as osp
from typing import Dict, Optional, Sequence, Union

import numpy as np

GMM_FIELDS = ('imgname', 'gmm', 'keypoints', 'dataset_name', 'source')
# Human3.6M joints (MMPose order) as weighted sums of COCO joints, for heatmap models trained on COCO. Rows:
# root, r_hip, r_knee, r_foot, l_hip, l_knee, l_foot, spine, thorax, neck_base, head, l_sho, l_elb, l_wri, r_sho,
# r_elb, r_wri. COCO: 0 nose, 1-2 eyes, 3-4 ears, 5/6 l/r shoulder, 7/8 elbows, 9/10 wrists, 11/12 hips,
# 13/14 knees, 15/16 ankles. Spine and head top have no COCO joint: mid hips-shoulders and mid ears.
_COCO_TO_H36M_ROWS = ({
    11: .5,
    12: .5
}, {
    12: 1.
}, {
    14: 1.
}, {
    16: 1.
}, {
    11: 1.
}, {
    13: 1.
}, {
    15: 1.
}, {
    5: .25,
    6: .25,
    11: .25,
    12: .25
}, {
    5: .5,
    6: .5
}, {
    0: 1.
}, {
    3: .5,
    4: .5
}, {
    5: 1.
}, {
    7: 1.
}, {
    9: 1.
}, {
    6: 1.
}, {
    8: 1.
}, {
    10: 1.
})
COCO_TO_H36M = np.zeros((17, 17), np.float32)
for _row, _weights in enumerate(_COCO_TO_H36M_ROWS):
    for _col, _w in _weights.items():
        COCO_TO_H36M[_row, _col] = _w


# ----------------------------------------------------------------------------------------------- file format
def save_keypoint_gmm(path: str, imgname: Sequence[str], gmm: np.ndarray, keypoints: np.ndarray, dataset_name: str,
                      source: str = '') -> None:
    """Write a keypoint GMM file (see the module docstring), checked by :func:`check_keypoint_gmm` first."""
    data = dict(
        imgname=np.asarray(imgname), gmm=np.asarray(gmm, np.float32), keypoints=np.asarray(keypoints, np.float32),
        dataset_name=np.asarray(dataset_name), source=np.asarray(source))
    check_keypoint_gmm(data, path)
    np.savez(path, **data)


def load_keypoint_gmm(path: str, num_keypoints: Optional[int] = None,
                      dataset_name: Optional[str] = None) -> Dict[str, Union[np.ndarray, str]]:
    """Read and check a keypoint GMM file.

    Args:
        path (str): The ``.npz`` file.
        num_keypoints (int, optional): Expected ``K`` (the dataset's joints).
        dataset_name (str, optional): Expected ``dataset_name`` (the dataset's metainfo).

    Returns:
        dict: ``imgname (N,)``, ``gmm (N, K, M, 5)``, ``keypoints (N, K, 2)``, ``dataset_name`` and ``source``
        (str).

    Raises:
        FileNotFoundError: naming the file.
        ValueError: naming the file and the field (missing, wrong shape, weights that are not a distribution,
            non-positive scales, another dataset or joint count).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'keypoint GMM file {path} does not exist; make one with '
                                'tools/misc/fit_pose_gmm.py')
    with np.load(path, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    check_keypoint_gmm(data, path, num_keypoints, dataset_name)
    data['dataset_name'] = str(data['dataset_name'])
    data['source'] = str(data['source'])
    return data


def check_keypoint_gmm(data: dict, path: str, num_keypoints: Optional[int] = None,
                       dataset_name: Optional[str] = None) -> None:
    """Raise a ``ValueError`` naming ``path`` and the field if ``data`` is not a valid keypoint GMM file."""
    missing = [k for k in GMM_FIELDS if k not in data]
    if missing:
        raise ValueError(f'keypoint GMM file {path}: missing field(s) {missing}; expected {GMM_FIELDS}')
    gmm, kpts, names = data['gmm'], data['keypoints'], data['imgname']
    if gmm.ndim != 4 or gmm.shape[-1] != 5:
        raise ValueError(f'keypoint GMM file {path}: field `gmm` must be (N, K, M, 5) (π, μx, μy, σx, σy), '
                         f'got shape {gmm.shape}')
    if kpts.shape != gmm.shape[:2] + (2, ):
        raise ValueError(f'keypoint GMM file {path}: field `keypoints` must be (N, K, 2) = {gmm.shape[:2] + (2, )}'
                         f' like `gmm`, got shape {kpts.shape}')
    if names.shape != gmm.shape[:1]:
        raise ValueError(f'keypoint GMM file {path}: field `imgname` has {names.shape} entries, `gmm` has '
                         f'{gmm.shape[0]} frames')
    weights = gmm[..., 0]
    if (weights < -1e-6).any() or not np.allclose(weights.sum(-1), 1, atol=1e-3):
        raise ValueError(f'keypoint GMM file {path}: field `gmm` weights π (gmm[..., 0]) must be >= 0 and sum to 1 '
                         'over the M kernels of a joint')
    if (gmm[..., 3:] <= 0).any():
        raise ValueError(f'keypoint GMM file {path}: field `gmm` scales σ (gmm[..., 3:5]) must be > 0')
    if num_keypoints is not None and gmm.shape[1] != num_keypoints:
        raise ValueError(f'keypoint GMM file {path}: field `gmm` has {gmm.shape[1]} joints, the dataset has '
                         f'{num_keypoints}')
    if dataset_name is not None and str(data['dataset_name']) != dataset_name:
        raise ValueError(f'keypoint GMM file {path}: field `dataset_name` is {str(data["dataset_name"])!r}, the '
                         f'dataset is {dataset_name!r} (a GMM file made for another dataset?)')


# ----------------------------------------------------------------------------------------------- geometry
def flip_keypoint_gmm(gmm: np.ndarray, flip_indices: Sequence[int], center_x: Union[float, np.ndarray]) -> np.ndarray:
    """Mirror mixtures ``(..., K, M, 5)`` about ``x = center_x`` (broadcast against ``(...)``) and swap left and
    right joints, as ``flip_keypoints_custom_center`` does to keypoints."""
    out = gmm[..., list(flip_indices), :, :].copy()
    out[..., 1] = 2 * np.asarray(center_x)[..., None, None] - out[..., 1]
    return out


def normalize_keypoint_gmm(gmm: np.ndarray, width: float, height: float) -> np.ndarray:
    """Mixtures in pixels -> the units of MMPose's ``VideoPoseLifting``: ``(μ - (w/2, h/2)) / (w/2)``,
    ``σ / (w/2)``."""
    out = np.array(gmm, np.float32, copy=True)
    half = width / 2
    out[..., 1] = (out[..., 1] - half) / half
    out[..., 2] = (out[..., 2] - height / 2) / half
    out[..., 3:] /= half
    return out


# ----------------------------------------------------------------------------------------------- fitting
def gmm_from_keypoints(keypoints: np.ndarray, scores: np.ndarray, scale: Union[float, np.ndarray],
                       flip_indices: Sequence[int], num_kernels: int = 5, swap_prob: float = 0.1,
                       broad_factor: float = 4.0, min_sigma: float = 1.0) -> np.ndarray:
    """Mixtures ``(N, K, M, 5)`` from keypoints when no heatmaps exist.

    Kernels per joint (the others get weight 0): (1) the detection, ``π = s (1 - p_swap)``, ``σ = scale``;
    (2) the symmetric joint's detection (a left/right swap), ``π = s p_swap``, ``σ = scale`` (joints without a
    partner keep ``π = s``); (3) a broad kernel at the detection for the chance ``1 - s`` that the detection is
    wrong (occluded joint), ``σ = broad_factor · scale``.

    Args:
        keypoints (np.ndarray): ``(N, K, 2)`` pixels.
        scores (np.ndarray): ``(N, K)`` detector confidences, clipped to ``[0, 1]``.
        scale (float | np.ndarray): per-joint scale (px), a scalar or ``(N, K)`` (e.g. ``keypoint_spread``).
        flip_indices (Sequence[int]): Symmetric joint of each joint (MMPose metainfo).
        num_kernels (int): ``M >= 3``.
        swap_prob (float): ``p_swap``, share of a confident detection given to the swapped location.
        broad_factor (float): Scale of the broad kernel relative to ``scale``.
        min_sigma (float): Floor of every ``σ`` (px).
    """
    if num_kernels < 3:
        raise ValueError(f'gmm_from_keypoints: num_kernels must be >= 3 (detection, swap, broad), got {num_kernels}')
    keypoints = np.asarray(keypoints, np.float32)
    N, K = keypoints.shape[:2]
    if len(flip_indices) != K:
        raise ValueError(f'gmm_from_keypoints: {len(flip_indices)} flip_indices for {K} joints')
    s = np.clip(np.asarray(scores, np.float32), 0, 1)
    sigma = np.maximum(np.broadcast_to(np.asarray(scale, np.float32), (N, K)), min_sigma)
    paired = np.asarray(flip_indices) != np.arange(K)
    p_swap = np.where(paired, swap_prob, 0.)[None]
    gmm = np.zeros((N, K, num_kernels, 5), np.float32)
    gmm[..., 1:3] = keypoints[:, :, None]
    gmm[..., 3:] = sigma[..., None, None]
    gmm[:, :, 0, 0] = s * (1 - p_swap)
    gmm[:, :, 1, 0] = s * p_swap
    gmm[:, :, 1, 1:3] = keypoints[:, list(flip_indices)]
    gmm[:, :, 2, 0] = 1 - s
    gmm[:, :, 2, 3:] = np.maximum(broad_factor * sigma, min_sigma)[..., None]
    return gmm


def fit_heatmap_gmm(heatmaps: np.ndarray, num_kernels: int = 5, num_iters: int = 30, min_sigma: float = 0.5,
                    peak_radius: float = 2.0) -> np.ndarray:
    """Fit a diagonal Gaussian mixture to each heatmap, seen as an (unnormalised) density on its pixel grid.

    EM weighted by the clipped heatmap values, initialised at the ``M`` highest local peaks (greedy, peaks
    closer than ``peak_radius`` pixels suppressed; an empty heatmap gets one kernel over the whole map).

    Args:
        heatmaps (np.ndarray): ``(K, H, W)``.
        num_kernels (int): ``M``.
        num_iters (int): EM iterations.
        min_sigma (float): Floor of every ``σ`` (heatmap pixels).
        peak_radius (float): Suppression radius of the initial peaks (heatmap pixels).

    Returns:
        np.ndarray: ``(K, M, 5)`` (π, μx, μy, σx, σy) in heatmap pixel coordinates (x right, y down).
    """
    K, H, W = heatmaps.shape
    ys, xs = np.mgrid[0:H, 0:W]
    grid = np.stack([xs.ravel(), ys.ravel()], -1).astype(np.float64)  # (P, 2)
    out = np.zeros((K, num_kernels, 5), np.float32)
    for k in range(K):
        w = np.clip(heatmaps[k].astype(np.float64).ravel(), 0, None)
        if w.sum() <= 0:  # nothing detected: one kernel covering the map, the rest unused
            out[k, :, 1:3] = ((W - 1) / 2, (H - 1) / 2)
            out[k, :, 3:] = (W / 2, H / 2)
            out[k, 0, 0] = 1
            continue
        w = w / w.sum()
        mu = _initial_peaks(heatmaps[k], num_kernels, peak_radius)
        var = np.full((num_kernels, 2), max(peak_radius, min_sigma)**2)
        pi = np.full(num_kernels, 1 / num_kernels)
        for _ in range(num_iters):
            d2 = (grid[:, None] - mu[None])**2 / var[None]  # (P, M, 2)
            log_r = np.log(pi + 1e-12)[None] - 0.5 * d2.sum(-1) - 0.5 * np.log(var).sum(-1)[None]
            log_r -= log_r.max(1, keepdims=True)
            r = np.exp(log_r)
            r /= r.sum(1, keepdims=True)
            rw = r * w[:, None]  # responsibilities weighted by the heatmap
            nk = rw.sum(0) + 1e-12
            pi = nk / nk.sum()
            mu = (rw[..., None] * grid[:, None]).sum(0) / nk[:, None]
            var = np.maximum((rw[..., None] * (grid[:, None] - mu[None])**2).sum(0) / nk[:, None], min_sigma**2)
        out[k, :, 0] = pi
        out[k, :, 1:3] = mu
        out[k, :, 3:] = np.sqrt(var)
    return out


def _initial_peaks(heatmap: np.ndarray, num: int, radius: float) -> np.ndarray:
    """``(num, 2)`` x, y of the highest peaks, each at least ``radius`` from the previous ones (repeated when the
    map has fewer)."""
    H, W = heatmap.shape
    ys, xs = np.mgrid[0:H, 0:W]
    values = heatmap.astype(np.float64).copy()
    peaks = []
    for _ in range(num):
        idx = int(np.argmax(values))
        y, x = divmod(idx, W)
        peaks.append((x, y))
        values[(xs - x)**2 + (ys - y)**2 <= radius**2] = -np.inf
        if np.isneginf(values).all():
            break
    while len(peaks) < num:
        peaks.append(peaks[len(peaks) % max(len(peaks), 1)])
    return np.asarray(peaks, np.float64)


def map_gmm_joints(gmm: np.ndarray, joint_map: np.ndarray, num_kernels: Optional[int] = None) -> np.ndarray:
    """Mixtures of joints that are weighted sums of other joints (e.g. :data:`COCO_TO_H36M`).

    A target joint ``Σ_i w_i X_i`` of independent mixtures ``X_i`` is the mixture over all kernel
    combinations (mean ``Σ w_i μ_i``, variance ``Σ w_i² σ_i²``, weight ``Π π_i``); the ``M`` heaviest are kept
    and renormalised.

    Args:
        gmm (np.ndarray): ``(..., Ks, M, 5)``.
        joint_map (np.ndarray): ``(Kd, Ks)`` weights.
        num_kernels (int, optional): ``M`` of the output. Defaults to the input's.

    Returns:
        np.ndarray: ``(..., Kd, M, 5)``.
    """
    joint_map = np.asarray(joint_map, np.float64)
    if joint_map.ndim != 2 or joint_map.shape[1] != gmm.shape[-3]:
        raise ValueError(f'map_gmm_joints: joint_map must be (Kd, {gmm.shape[-3]}), got {joint_map.shape}')
    M = gmm.shape[-2] if num_kernels is None else num_kernels
    lead = gmm.shape[:-3]
    out = np.zeros(lead + (joint_map.shape[0], M, 5), np.float32)
    for j, row in enumerate(joint_map):
        sources = np.flatnonzero(row)
        if len(sources) == 0:
            raise ValueError(f'map_gmm_joints: target joint {j} has no source joint')
        pi, mu, var = None, None, None
        for i in sources:  # fold the sources in one by one, keeping the M heaviest combinations
            p, m, v = gmm[..., i, :, 0], row[i] * gmm[..., i, :, 1:3], (row[i] * gmm[..., i, :, 3:])**2
            if pi is None:
                pi, mu, var = p, m, v
                continue
            pi = (pi[..., :, None] * p[..., None, :]).reshape(lead + (-1, ))
            mu = (mu[..., :, None, :] + m[..., None, :, :]).reshape(lead + (-1, 2))
            var = (var[..., :, None, :] + v[..., None, :, :]).reshape(lead + (-1, 2))
            keep = np.argsort(-pi, axis=-1)[..., :M]
            pi = np.take_along_axis(pi, keep, -1)
            mu = np.take_along_axis(mu, keep[..., None], -2)
            var = np.take_along_axis(var, keep[..., None], -2)
        n = pi.shape[-1]
        if n < M:  # pad with unused kernels
            pad = M - n
            pi = np.concatenate([pi, np.zeros(lead + (pad, ))], -1)
            mu = np.concatenate([mu, np.repeat(mu[..., :1, :], pad, -2)], -2)
            var = np.concatenate([var, np.repeat(var[..., :1, :], pad, -2)], -2)
        pi, mu, var = pi[..., :M], mu[..., :M, :], var[..., :M, :]
        out[..., j, :, 0] = pi / np.maximum(pi.sum(-1, keepdims=True), 1e-12)
        out[..., j, :, 1:3] = mu
        out[..., j, :, 3:] = np.sqrt(var)
    return out
