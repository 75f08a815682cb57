"""MMPose's ``Human36mDataset`` with its input files checked first, so that bad files fail with an error naming
the file and the field instead of an assertion (or a shape error in the model) far from the cause."""
import os.path as osp
import pickle
from typing import Optional

import numpy as np
from mmengine.utils import is_abs
from mmpose.datasets.datasets.body3d import Human36mDataset
from mmpose.registry import DATASETS


@DATASETS.register_module()
class CheckedHuman36mDataset(Human36mDataset):
    """``Human36mDataset`` (same arguments, same samples) that checks its files when it loads them.

    Checked, each failure naming the file and the field:

    - the annotation file (``ann_file``): fields ``imgname``, ``S`` ``(N, K, 4)`` and ``part`` ``(N, K, 3)``
      present, with ``N`` frames and ``K`` = the dataset's joints;
    - the 2D detections (``keypoint_2d_det_file``, with ``keypoint_2d_src='detection'``): ``(N, K, 3)``, i.e.
      the same frame count as the annotation file (frame-aligned) and the same joints;
    - the cameras (``camera_param_file``): the file exists and holds ``w``, ``h``, ``f``, ``c`` for every
      ``(subject, camera)`` of the annotation file's image names.
    """

    def __init__(self, *args, camera_param_file: Optional[str] = None, data_root: Optional[str] = None,
                 metainfo: Optional[dict] = None, **kwargs) -> None:
        meta = self._load_metainfo(metainfo)  # the parent loads it only after the annotation file
        self._num_keypoints, self._dataset_name = meta['num_keypoints'], meta.get('dataset_name')
        self._camera_file = None
        if camera_param_file:
            path = camera_param_file if is_abs(camera_param_file) else osp.join(data_root or '', camera_param_file)
            if not osp.isfile(path):
                raise FileNotFoundError(f'{type(self).__name__}: camera_param_file {path} does not exist')
            self._camera_file = path
        super().__init__(*args, camera_param_file=camera_param_file, data_root=data_root, metainfo=metainfo, **kwargs)

    def _load_ann_file(self, ann_file: str) -> dict:
        super()._load_ann_file(ann_file)
        name = type(self).__name__
        K = self._num_keypoints
        missing = [k for k in ('imgname', 'S', 'part') if k not in self.ann_data.files]
        if missing:
            raise ValueError(f'{name}: annotation file {ann_file} has no field(s) {missing} (expected MMPose\'s '
                             'Human3.6M layout: imgname, center, scale, part, S)')
        N = len(self.ann_data['imgname'])
        for field, dim in (('S', 4), ('part', 3)):
            shape = self.ann_data[field].shape
            if shape != (N, K, dim):
                raise ValueError(f'{name}: annotation file {ann_file}, field `{field}`: expected ({N}, {K}, {dim}) '
                                 f'({N} frames in `imgname`, {K} joints of {self._dataset_name}), got '
                                 f'{shape}')
        det_file = getattr(self, 'keypoint_2d_det_file', None)
        if self.keypoint_2d_src == 'detection' and det_file:
            if not osp.isfile(det_file):
                raise FileNotFoundError(f'{name}: keypoint_2d_det_file {det_file} does not exist')
            det = np.load(det_file, mmap_mode='r')
            if det.ndim != 3 or det.shape[1:] != (K, 3):
                raise ValueError(f'{name}: keypoint_2d_det_file {det_file}: expected (frames, {K}, 3) (x, y, score '
                                 f'of {K} joints), got {det.shape}')
            if det.shape[0] != N:
                raise ValueError(f'{name}: keypoint_2d_det_file {det_file} has {det.shape[0]} frames but the '
                                 f'annotation file {ann_file} has {N} (field `imgname`); the two must be '
                                 'frame-aligned')
        if self._camera_file:
            self._check_cameras(self._camera_file)

    def _check_cameras(self, path: str) -> None:
        with open(path, 'rb') as f:
            cameras = pickle.load(f)
        needed = sorted({(s, c) for s, _, c in map(self._parse_h36m_imgname, self.ann_data['imgname'])})
        for key in needed:
            if key not in cameras:
                raise KeyError(f'{type(self).__name__}: camera_param_file {path} has no camera {key} (subject, '
                               'camera id) used by the annotation file')
            absent = [k for k in ('w', 'h', 'f', 'c') if k not in cameras[key]]
            if absent:
                raise KeyError(f'{type(self).__name__}: camera_param_file {path}, camera {key}: missing field(s) '
                               f'{absent}')
