"""Multi-frame PoseTrack17/18/21 dataset: one sample per person in a labelled key frame."""
import bisect
import copy
import logging
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.fileio import list_dir_or_file
from mmengine.logging import MessageHub, print_log
from mmpose.datasets.datasets.base import BaseCocoStyleDataset
from mmpose.registry import DATASETS
from mmpose.structures.bbox import bbox_xywh2xyxy

from .posetrack_format import POSETRACK18_METAINFO_FILE, load_person_detections, load_posetrack_annotations


def support_frame_indices(key_index: int, nframes: int, num_adjacent: int, first_index: int = 0) -> List[int]:
    """Frame indices ``key-δ .. key+δ`` in temporal order, clamped to the video.

    The video holds frames ``first_index .. first_index + nframes - 1`` (PoseTrack18/21 count from
    0, PoseTrack17 from 1); out-of-range indices repeat the border frame.

    Example:
        >>> support_frame_indices(1, nframes=10, num_adjacent=2)
        [0, 0, 1, 2, 3]
    """
    last = first_index + nframes - 1
    return [min(max(key_index + o, first_index), last) for o in range(-num_adjacent, num_adjacent + 1)]


class _SortedIndexSet:
    """Membership and nearest-neighbour queries on a sorted list of frame indices."""

    def __init__(self, indices: List[int]):
        self.indices = indices

    def __contains__(self, index: int) -> bool:
        pos = bisect.bisect_left(self.indices, index)
        return pos < len(self.indices) and self.indices[pos] == index

    def neighbours(self, index: int) -> List[int]:
        pos = bisect.bisect_left(self.indices, index)
        return self.indices[max(pos - 1, 0):pos + 1]


@DATASETS.register_module()
class PoseTrackVideoDataset(BaseCocoStyleDataset):
    """PoseTrack17/18/21 for video (multi-frame) top-down pose estimation.

    Each sample is one person in a labelled key frame ``t`` with the frames ``t-δ .. t+δ``
    (``δ = num_adjacent``) in temporal order. Indices outside the video repeat the border frame
    (PoseTrack18/21 frames are ``000000.jpg .. (nframes-1)``, PoseTrack17 ``00000001.jpg ..
    nframes``). The box and the keypoints are those of the key frame.

    Data info keys (as MMPose's ``BaseCocoStyleDataset`` plus ``frame_paths``):

    - ``img_path`` (str): key-frame path (kept a string so MMPose visualisation hooks work);
    - ``frame_paths`` (list[str]): the ``2δ+1`` paths in temporal order; the key frame is
      ``frame_paths[num_adjacent]``. Loaded by :class:`LoadVideoFrames`;
    - ``img_id`` (images[].id), ``id`` (annotation id, or a running index for detections),
      ``category_id``, ``bbox`` (1, 4) xyxy, ``bbox_score`` (1,), ``keypoints`` (1, 17, 2),
      ``keypoints_visible`` (1, 17), ``num_keypoints``, ``area``, ``iscrowd``, ``raw_ann_info``
      (the json annotation, with ``area`` filled in when absent so CocoMetric can use it).

    Training uses the annotations with keypoints (annotations without keypoints, or with all-zero
    keypoints, are skipped and the number skipped is logged). Testing uses ground-truth boxes, or
    detections from ``bbox_file`` (MMPose entries ``{image_id, bbox (xywh), score, category_id}``
    or DCPose entries with ``image_name`` instead of ``image_id``; only labelled frames are kept)
    filtered by ``filter_cfg=dict(bbox_score_thr=...)``.

    Args:
        ann_file (str): A merged COCO-style json (e.g. MMPose's ``posetrack18_val.json``) or a
            directory of official per-video jsons (PoseTrack18/21 releases), merged on load.
            PoseTrack17 needs converting first
            (``tools/dataset_converters/posetrack17_to_coco.py``).
        bbox_file (str, optional): Person detections for testing. Default: ``None``.
        num_adjacent (int): Supporting frames on each side, δ. ``0`` gives single frames.
            Default: 2.
        frame_index_start (int, optional): Index of the first frame of a video. ``None`` detects
            it from the key frame's name: 8 digits (PoseTrack17) -> 1, otherwise 0.
            Default: ``None``.
        missing_frame (str): What to do when a supporting frame file does not exist, checked when
            the annotations are loaded: ``'error'`` raises ``FileNotFoundError`` naming the file;
            ``'nearest'`` uses the nearest existing frame of the same video and logs a warning.
            A missing key frame is always an error. Default: ``'error'``.
        Other args: as :class:`mmpose.datasets.BaseCocoStyleDataset` (only ``'topdown'``
            ``data_mode``).
    """

    METAINFO: dict = dict(from_file=POSETRACK18_METAINFO_FILE)

    def __init__(self, ann_file: str = '', bbox_file: Optional[str] = None, num_adjacent: int = 2,
                 frame_index_start: Optional[int] = None, missing_frame: str = 'error', data_mode: str = 'topdown',
                 metainfo: Optional[dict] = None, data_root: Optional[str] = None, data_prefix: dict = dict(img=''),
                 filter_cfg: Optional[dict] = None, indices: Optional[Union[int, Sequence[int]]] = None,
                 serialize_data: bool = True, pipeline: List[Union[dict, Callable]] = [], test_mode: bool = False,
                 lazy_init: bool = False, max_refetch: int = 1000):
        if not isinstance(num_adjacent, int) or num_adjacent < 0:
            raise ValueError(f'num_adjacent must be an int >= 0, got {num_adjacent!r}')
        if frame_index_start is not None and (not isinstance(frame_index_start, int) or frame_index_start < 0):
            raise ValueError(f'frame_index_start must be None or an int >= 0, got '
                             f'{frame_index_start!r}')
        if missing_frame not in ('error', 'nearest'):
            raise ValueError(f"missing_frame must be 'error' or 'nearest', got {missing_frame!r}")
        if data_mode != 'topdown':
            raise ValueError(f'{self.__class__.__name__} only supports data_mode="topdown", got '
                             f'{data_mode!r}')
        self.num_adjacent = num_adjacent
        self.frame_index_start = frame_index_start
        self.missing_frame = missing_frame
        super().__init__(ann_file=ann_file, bbox_file=bbox_file, data_mode=data_mode, metainfo=metainfo,
                         data_root=data_root, data_prefix=data_prefix, filter_cfg=filter_cfg, indices=indices,
                         serialize_data=serialize_data, pipeline=pipeline, test_mode=test_mode, lazy_init=lazy_init,
                         max_refetch=max_refetch)
        if self.test_mode and osp.isdir(self.ann_file):
            # CocoMetric would try to read the directory as a json: let it build the ground truth
            # from ``raw_ann_info`` instead.
            MessageHub.get_current_instance().update_info_dict({f'{self.metainfo["dataset_name"]}_ann_file': None})

    def _load_posetrack(self) -> Tuple[List[dict], List[dict]]:
        data = load_posetrack_annotations(self.ann_file)
        self._metainfo['CLASSES'] = data['categories']
        return data['images'], data['annotations']

    def load_data_list(self) -> List[dict]:
        self._frame_index_cache: Dict[tuple, _SortedIndexSet] = {}
        self._replaced: Dict[str, str] = {}
        data_list = super().load_data_list()
        if self._replaced:
            examples = ', '.join(f'{k} -> {v}' for k, v in list(self._replaced.items())[:3])
            print_log(
                f'{len(self._replaced)} missing supporting frame(s) replaced by the nearest '
                f'existing frame (missing_frame="nearest"), e.g. {examples}', logger='current', level=logging.WARNING)
        del self._frame_index_cache, self._replaced
        return data_list

    def _load_annotations(self) -> Tuple[List[dict], List[dict]]:
        images, annotations = self._load_posetrack()
        id2img = {img['id']: img for img in images}
        instance_list, num_skipped = [], 0
        for ann in annotations:
            info = self.parse_data_info(dict(raw_ann_info=ann, raw_img_info=id2img[ann['image_id']]))
            if info is None:
                num_skipped += 1
            else:
                instance_list.append(info)
        if num_skipped:
            print_log(f'{self.ann_file}: skipped {num_skipped} annotation(s) without keypoints', logger='current',
                      level=logging.INFO)
        return instance_list, images

    def parse_data_info(self, raw_data_info: dict) -> Optional[dict]:
        """Parse one annotation of a key frame; ``None`` when it has no (non-zero) keypoints."""
        ann, img = raw_data_info['raw_ann_info'], raw_data_info['raw_img_info']
        if not ann.get('keypoints') or max(ann['keypoints']) <= 0:
            return None
        x, y, w, h = ann['bbox']
        x1, y1, x2, y2 = max(x, 0), max(y, 0), x + w, y + h
        if 'width' in img and 'height' in img:
            x1, x2 = np.clip([x1, x2], 0, img['width'] - 1)
            y1, y2 = np.clip([y1, y2], 0, img['height'] - 1)
        bbox = np.array([x1, y1, x2, y2], dtype=np.float32).reshape(1, 4)
        _keypoints = np.array(ann['keypoints'], dtype=np.float32).reshape(1, -1, 3)
        keypoints_visible = np.minimum(1, _keypoints[..., 2])
        raw_ann_info = copy.deepcopy(ann)
        if 'area' not in raw_ann_info:
            raw_ann_info['area'] = float(max((x2 - x1) * (y2 - y1) * 0.53, 1.0))
        return dict(img_id=img['id'], img_path=osp.join(self.data_prefix['img'], img['file_name']),
                    frame_paths=self._frame_paths(img), bbox=bbox, bbox_score=np.ones(1, dtype=np.float32),
                    num_keypoints=ann.get('num_keypoints',
                                          int(np.count_nonzero(keypoints_visible))), keypoints=_keypoints[..., :2],
                    keypoints_visible=keypoints_visible, area=np.array(raw_ann_info['area'], dtype=np.float32),
                    iscrowd=ann.get('iscrowd', 0), segmentation=ann.get('segmentation', None), id=ann['id'],
                    category_id=np.array(ann.get('category_id', 1)), raw_ann_info=raw_ann_info)

    def _load_detection_results(self) -> List[dict]:
        """Samples from ``bbox_file`` (detections on labelled frames) with dummy keypoints."""
        images, _ = self._load_posetrack()
        dets = load_person_detections(self.bbox_file)
        if not dets:  # an empty list would test nothing and report AP 0 as if the model had failed
            raise ValueError(f'{self.bbox_file}: holds no detections (no entry with category_id 1); run the person '
                             f'detector (tools/misc/generate_person_boxes.py) on the images of {self.ann_file}')
        id2img = {img['id']: img for img in images}
        name2img = {osp.normpath(img['file_name']): img for img in images}
        num_keypoints = self.metainfo['num_keypoints']
        data_list, num_unknown, num_unlabelled = [], 0, 0
        for det in dets:
            if 'image_id' in det:
                img = id2img.get(det['image_id'])
            else:
                img = name2img.get(osp.normpath(det['image_name']))
            if img is None:
                num_unknown += 1
                continue
            if not img.get('is_labeled', True):
                num_unlabelled += 1
                continue
            bbox = bbox_xywh2xyxy(np.array(det['bbox'][:4], dtype=np.float32).reshape(1, 4))
            data_list.append(
                dict(img_id=img['id'], img_path=osp.join(self.data_prefix['img'],
                                                         img['file_name']), frame_paths=self._frame_paths(img),
                     bbox=bbox, bbox_score=np.array(det['score'], dtype=np.float32).reshape(1), keypoints=np.zeros(
                         (1, num_keypoints, 2), dtype=np.float32), keypoints_visible=np.ones(
                             (1, num_keypoints), dtype=np.float32), id=len(data_list), category_id=np.array(1)))
        if dets and not data_list:
            raise ValueError(f'{self.bbox_file}: none of its {len(dets)} detections is on a '
                             f'labelled image of {self.ann_file}')
        if num_unknown or num_unlabelled:
            print_log(
                f'{self.bbox_file}: ignored {num_unknown} detection(s) on images not in '
                f'{self.ann_file} and {num_unlabelled} on unlabelled frames', logger='current', level=logging.INFO)
        return data_list

    # ------------------------------------------------------------------ frame selection
    def _frame_paths(self, img: dict) -> List[str]:
        """The ``2δ+1`` frame paths of key frame ``img``, in temporal order, checked to exist."""
        key_path = osp.join(self.data_prefix['img'], img['file_name'])
        stem, ext = osp.splitext(osp.basename(key_path))
        if not stem.isdigit():
            raise ValueError(f'Cannot read a frame index from key frame {img["file_name"]!r}: PoseTrack frames '
                             'are named by their index (000000.jpg for PoseTrack18/21, 00000001.jpg for '
                             'PoseTrack17)')
        key_index, digits = int(stem), len(stem)
        first = self.frame_index_start
        if first is None:
            first = 1 if digits == 8 else 0
        nframes = int(img['nframes'])
        if not first <= key_index < first + nframes:
            raise ValueError(f'Key frame {img["file_name"]!r} has index {key_index}, outside the video '
                             f'[{first}, {first + nframes - 1}] given nframes={nframes} and frame_index_start='
                             f'{first}; set frame_index_start to the index of the first frame')
        video_dir = osp.dirname(key_path)
        existing = self._existing_frames(video_dir, digits, ext)
        if key_index not in existing:
            raise FileNotFoundError(f'Key frame {key_path} does not exist')
        paths = []
        for index in support_frame_indices(key_index, nframes, self.num_adjacent, first):
            path = osp.join(video_dir, f'{index:0{digits}d}{ext}')
            if index not in existing:
                if self.missing_frame == 'error':
                    raise FileNotFoundError(f'Supporting frame {path} of key frame {key_path} does not exist '
                                            f'(num_adjacent={self.num_adjacent}). Set missing_frame="nearest" in the '
                                            'dataset config to use the nearest existing frame instead.')
                nearest = self._nearest(existing, index, key_index, first, first + nframes - 1)
                new_path = osp.join(video_dir, f'{nearest:0{digits}d}{ext}')
                self._replaced[path] = new_path
                path = new_path
            paths.append(path)
        return paths

    def _existing_frames(self, video_dir: str, digits: int, ext: str) -> _SortedIndexSet:
        """Indices of the frame files in ``video_dir`` (listed once per directory)."""
        key = (video_dir, digits, ext)
        if key not in self._frame_index_cache:
            try:
                names = list(list_dir_or_file(video_dir, list_dir=False))
            except (FileNotFoundError, NotADirectoryError):
                names = []
            self._frame_index_cache[key] = _SortedIndexSet(
                sorted(
                    int(n[:digits]) for n in names
                    if len(n) == digits + len(ext) and n.endswith(ext) and n[:digits].isdigit()))
        return self._frame_index_cache[key]

    @staticmethod
    def _nearest(existing: _SortedIndexSet, index: int, key_index: int, first: int, last: int) -> int:
        """Nearest existing frame index in ``[first, last]``; ties go towards the key frame."""
        candidates = [i for i in existing.neighbours(index) if first <= i <= last]
        return min(candidates, key=lambda i: (abs(i - index), abs(i - key_index)))
