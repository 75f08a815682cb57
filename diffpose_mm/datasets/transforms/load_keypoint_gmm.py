"""Loading the per-joint 2D mixtures of a lifting sample's target frame (DiffPose-3D's GMM prior)."""
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmpose.registry import TRANSFORMS

from ..keypoint_gmm import flip_keypoint_gmm, load_keypoint_gmm, normalize_keypoint_gmm


@TRANSFORMS.register_module()
class LoadKeypointGMM(BaseTransform):
    """Add the 2D Gaussian mixtures of the target frame's joints from a keypoint GMM file.

    The file (:mod:`diffpose_mm.datasets.keypoint_gmm`) is frame-aligned with the annotation file of MMPose's
    ``Human36mDataset``; the sample's frame indices (``img_ids``) select its rows, and the names and keypoints
    stored with the mixtures are checked against the sample, so a file made for another dataset, split or 2D
    source fails with an error naming the file and the field.

    Place it after ``RandomFlipAroundRoot`` and before ``GenerateTarget``: a flipped sample is recognised (its 2D
    keypoints are the stored ones mirrored about the root joint's axis) and its mixtures are mirrored alike.
    The mixtures are then expressed in the units of ``VideoPoseLifting`` (``(μ - (w/2, h/2)) / (w/2)``, with the
    camera's ``w`` and ``h``), and ``PackPoseInputs`` must list ``'keypoint_gmm'`` in its ``meta_keys``.

    Required Keys:

        - img_ids (list[int]): rows of the sample's frames in the annotation file
        - img_paths (list[str]), target_img_path (list[str]): frame names (one target frame)
        - keypoints (np.ndarray): ``(T, K, 2)`` 2D input in pixels
        - camera_param (dict): with ``w`` and ``h`` (``camera_param_file`` of the dataset)
        - flip_indices (list[int])

    Added Keys:

        - keypoint_gmm (np.ndarray): ``(K, M, 5)`` float32 (π, μx, μy, σx, σy) of the target frame, normalised

    Args:
        gmm_file (str): The keypoint GMM file (``.npz``).
        dataset_name (str, optional): Expected ``dataset_name`` of the file (e.g. ``'h36m'``). Defaults to
            None (not checked).
        atol (float): Tolerance (px) when matching the stored keypoints with the sample's. Defaults to 0.01.
    """

    def __init__(self, gmm_file: str, dataset_name: Optional[str] = None, atol: float = 0.01) -> None:
        self.gmm_file = gmm_file
        self.dataset_name = dataset_name
        self.atol = atol
        self._data = None  # loaded on first use (once per dataloader worker)

    def _load(self) -> dict:
        if self._data is None:
            self._data = load_keypoint_gmm(self.gmm_file, dataset_name=self.dataset_name)
        return self._data

    def transform(self, results: dict) -> dict:
        data = self._load()
        where = f'LoadKeypointGMM: keypoint GMM file {self.gmm_file}'
        targets = list(results['target_img_path'])
        if len(targets) != 1:
            raise ValueError(f'LoadKeypointGMM supports one target frame per sample, got {len(targets)} '
                             '(multiple_target datasets are not supported)')
        pos = list(results['img_paths']).index(targets[0])
        row = int(results['img_ids'][pos])
        if row >= len(data['imgname']) or data['imgname'][row] != targets[0]:
            found = data['imgname'][row] if row < len(data['imgname']) else f'nothing ({len(data["imgname"])} rows)'
            raise ValueError(f'{where}, field `imgname`: row {row} is {found!r} but the annotation frame is '
                             f'{targets[0]!r} (a GMM file made for another dataset or split?)')
        keypoints = np.asarray(results['keypoints'], np.float32)[pos]  # (K, 2), pixels
        gmm = data['gmm'][row]
        if gmm.shape[0] != keypoints.shape[0]:
            raise ValueError(f'{where}, field `gmm`: {gmm.shape[0]} joints, the 2D input has {keypoints.shape[0]}')
        gmm = self._follow_flip(gmm, data['keypoints'][row], keypoints, results['flip_indices'], where, targets[0])
        camera = results.get('camera_param') or {}
        if 'w' not in camera or 'h' not in camera:
            raise KeyError('LoadKeypointGMM: the sample has no camera_param with `w` and `h` to normalise the mixtures '
                           'like VideoPoseLifting; set `camera_param_file` of the dataset')
        results['keypoint_gmm'] = normalize_keypoint_gmm(gmm, camera['w'], camera['h'])
        return results

    def _follow_flip(self, gmm: np.ndarray, stored: np.ndarray, keypoints: np.ndarray, flip_indices, where: str,
                     name: str) -> np.ndarray:
        """``gmm`` as is if the sample's keypoints are the stored ones, mirrored if they are the stored ones
        flipped (``RandomFlipAroundRoot``); an error otherwise."""
        if np.allclose(stored, keypoints, atol=self.atol):
            return gmm
        flip_indices = list(flip_indices)
        center = [j for j, f in enumerate(flip_indices) if f == j]  # a joint on the symmetry axis (the root)
        if center:
            j = center[0]
            center_x = (stored[j, 0] + keypoints[j, 0]) / 2
            mirrored = stored[flip_indices].copy()
            mirrored[:, 0] = 2 * center_x - mirrored[:, 0]
            if np.allclose(mirrored, keypoints, atol=self.atol):
                return flip_keypoint_gmm(gmm, flip_indices, center_x)
        diff = float(np.abs(stored - keypoints).max())
        raise ValueError(f'{where}, field `keypoints`: frame {name!r} differs from the 2D input by up to {diff:.1f} '
                         'px; the mixtures were made for other 2D keypoints (another keypoint_2d_det_file, or '
                         "keypoint_2d_src='gt')")
