"""The PoseTrack17/18/21 format: the one place that knows it.

Everything that reads, writes, converts or evaluates PoseTrack files takes its joint names, joint maps,
groups, person category, image-id scheme, json reader and per-video merge from here (the datasets, the
evaluation, the converters and the synthetic-data generator). The 17-keypoint layout is MMPose's
``posetrack18`` metainfo (``mmpose/configs/_base_/datasets/posetrack18.py``), which is also
``PoseTrackVideoDataset.METAINFO``.

This module imports nothing of diffpose_mm: the datasets and the evaluation both build on it.
"""
import copy
import json
import os
import os.path as osp
from collections import OrderedDict
from typing import Any, Dict, Iterable, List, Tuple

import mmpose
from mmengine.fileio import exists, get_local_path
from mmpose.datasets.datasets.utils import parse_pose_metainfo

# MMPose's PoseTrack18 metainfo file, inside the installed mmpose (``PoseTrackVideoDataset.METAINFO``).
POSETRACK18_METAINFO_FILE = osp.join(
    osp.dirname(mmpose.__file__), '.mim', 'configs', '_base_', 'datasets', 'posetrack18.py')
_META = parse_pose_metainfo(dict(from_file=POSETRACK18_METAINFO_FILE))

# The 17 keypoints of the PoseTrack18/21 json files (COCO order; the eye slots hold head_bottom/head_top).
POSETRACK18_KEYPOINTS: Tuple[str, ...] = tuple(_META['keypoint_id2name'][i] for i in range(_META['num_keypoints']))
NUM_KEYPOINTS = len(POSETRACK18_KEYPOINTS)
# The 1-based skeleton of the official PoseTrack18 json ``categories`` entry (COCO's; it is the file format's,
# not MMPose's drawing skeleton, which leaves out the ear links).
POSETRACK18_SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9],
                        [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]

# The person category of every PoseTrack json.
PERSON_CATEGORY = dict(supercategory='person', id=1, name='person', keypoints=list(POSETRACK18_KEYPOINTS),
                       skeleton=POSETRACK18_SKELETON)

# poseval's 15 evaluated joints, in poseval's order (``eval_helpers.Joint``), which is also the PoseTrack17
# ``annopoints`` joint id (0..14). ``head_bottom`` is poseval's "neck". The ears of the 17-keypoint layout are
# never annotated and are dropped.
POSETRACK_JOINTS: Tuple[str, ...] = ('right_ankle', 'right_knee', 'right_hip', 'left_hip', 'left_knee', 'left_ankle',
                                     'right_wrist', 'right_elbow', 'right_shoulder', 'left_shoulder', 'left_elbow',
                                     'left_wrist', 'head_bottom', 'nose', 'head_top')
NUM_POSETRACK_JOINTS = len(POSETRACK_JOINTS)
# PoseTrack17 joint id (0..14) -> index in the 17-keypoint layout
PT17_TO_PT18: Tuple[int, ...] = tuple(POSETRACK18_KEYPOINTS.index(name) for name in POSETRACK_JOINTS)

# The groups of the published AP table (``eval_helpers.getCum``). Total is the mean of the 15 joint APs, not
# of the 7 groups.
POSETRACK_GROUPS: 'OrderedDict[str, Tuple[str, ...]]' = OrderedDict([
    ('Head', ('head_top', 'head_bottom', 'nose')),
    ('Shoulder', ('right_shoulder', 'left_shoulder')),
    ('Elbow', ('right_elbow', 'left_elbow')),
    ('Wrist', ('right_wrist', 'left_wrist')),
    ('Hip', ('right_hip', 'left_hip')),
    ('Knee', ('right_knee', 'left_knee')),
    ('Ankle', ('right_ankle', 'left_ankle')),
])
POSETRACK_SUMMARY_KEYS: Tuple[str, ...] = tuple(POSETRACK_GROUPS) + ('Total', )
# The same groups as indices into the 17-keypoint layout (for per-keypoint arrays of a model's output).
POSETRACK_GROUP_INDICES: Dict[str, Tuple[int, ...]] = OrderedDict(
    (group, tuple(sorted(POSETRACK18_KEYPOINTS.index(n) for n in names))) for group, names in POSETRACK_GROUPS.items())


def posetrack_image_id(video_id: int, frame_index: int) -> int:
    """PoseTrack18's image id: ``1`` + 6-digit video id + 4-digit 0-based frame index.

    Example:
        >>> posetrack_image_id(23, 5)
        10000230005
    """
    if not 0 <= video_id <= 999999 or not 0 <= frame_index <= 9999:
        raise ValueError(f'PoseTrack image ids need a video id in 0..999999 and a frame index in 0..9999, '
                         f'got {video_id} and {frame_index}')
    return int(f'1{video_id:06d}{frame_index:04d}')


def frame_key(path: str) -> str:
    """``'<split>/<video>/<frame>.jpg'``: the part of an image path shared by GT files and datasets.

    Example:
        >>> frame_key('data/posetrack18/images/val/000342_mpii_test/000093.jpg')
        'val/000342_mpii_test/000093.jpg'
    """
    return '/'.join(osp.normpath(path).replace('\\', '/').split('/')[-3:])


# ---------------------------------------------------------------------------------------------- json files
def read_json(path: str) -> Any:
    """Read one json file (local or any mmengine file backend).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: naming ``path`` when the file is not valid json.
    """
    try:
        with get_local_path(path) as local_path, open(local_path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f'{path} is not valid json ({e}): a truncated download, or not a valid json '
                         'file at all?') from e


def write_json(obj: Any, path: str) -> None:
    """Write ``obj`` to ``path`` as compact json (``json.dump`` defaults), creating its folder."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(obj, f)


def list_json_files(folder: str) -> List[str]:
    """Sorted names of the ``*.json`` files in ``folder`` (a PoseTrack split: one file per video)."""
    return sorted(n for n in os.listdir(folder) if n.endswith('.json'))


def is_xywh(bbox: Any, extra_ok: bool = False) -> bool:
    """``[x, y, w, h]`` numbers (detection files may append more values, e.g. a score)."""
    return (isinstance(bbox, (list, tuple)) and (len(bbox) == 4 or extra_ok and len(bbox) > 4)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox[:4]))


def load_person_detections(path: str) -> List[dict]:
    """The person entries of a PoseTrack/MMPose detection file, checked.

    The file is a json list of ``{image_id | image_name, bbox (x, y, w, h[, ...]), score, category_id}`` (what
    ``tools/misc/generate_person_boxes.py`` writes). Entries with a ``category_id`` other than 1 are skipped.

    Returns:
        list[dict]: The person entries as they are in the file, in file order.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: naming ``path``, and the entry and field where one is at fault: not a list, an entry that is
            not an object, lacks ``bbox`` / ``score`` or both ``image_id`` and ``image_name``, or whose ``bbox``
            does not start with 4 numbers.
    """
    if not exists(path):
        raise FileNotFoundError(f'detection file {path} does not exist')
    dets = read_json(path)
    if not isinstance(dets, list):
        raise ValueError(f'{path}: expected a list of detections, got {type(dets).__name__}')
    people = []
    for i, det in enumerate(dets):
        if not isinstance(det, dict):
            raise ValueError(f'{path}: detection [{i}] must be an object, got {type(det).__name__}')
        for key in ('bbox', 'score'):
            if key not in det:
                raise ValueError(f'{path}: detection [{i}] has no field "{key}"')
        if not is_xywh(det['bbox'], extra_ok=True):
            raise ValueError(f'{path}: detection [{i}] field "bbox" must start with 4 numbers [x, y, w, h], '
                             f'got {det["bbox"]!r}')
        if det.get('category_id', 1) != 1:
            continue
        if 'image_id' not in det and 'image_name' not in det:
            raise ValueError(f'{path}: detection [{i}] has neither "image_id" nor "image_name"')
        people.append(det)
    return people


def load_posetrack_json(path: str) -> dict:
    """Load and validate one PoseTrack COCO-style json (merged or per-video).

    Raises:
        ValueError: naming ``path`` and the offending field when the file is not valid json, lacks
            ``images``/``annotations`` or a required field, refers to an unknown image, or has a
            keypoint list that is not 17x3 (the PoseTrack layout).

    Returns:
        dict: ``images``, ``annotations`` and ``categories`` (:data:`PERSON_CATEGORY` if absent).
        Annotations without keypoints are kept here; the dataset skips and counts them.
    """
    data = read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a COCO-style dict with "images" and "annotations", '
                         f'got {type(data).__name__}')
    for key in ('images', 'annotations'):
        if not isinstance(data.get(key), list):
            raise ValueError(f'{path}: missing or invalid top-level field "{key}" (a list)')
    image_ids = set()
    for i, img in enumerate(data['images']):
        for key in ('id', 'file_name', 'nframes'):
            if key not in img:
                raise ValueError(f'{path}: images[{i}] (file_name={img.get("file_name")!r}) has '
                                 f'no field "{key}"')
        image_ids.add(img['id'])
    for i, ann in enumerate(data['annotations']):
        for key in ('id', 'image_id'):
            if key not in ann:
                raise ValueError(f'{path}: annotations[{i}] has no field "{key}"')
        if ann['image_id'] not in image_ids:
            raise ValueError(f'{path}: annotations[{i}] (id={ann["id"]}) refers to image_id '
                             f'{ann["image_id"]}, which is not in "images"')
        kpts = ann.get('keypoints')
        if not kpts:
            continue
        if len(kpts) != NUM_KEYPOINTS * 3:
            raise ValueError(f'{path}: annotations[{i}] (id={ann["id"]}) field "keypoints" has {len(kpts)} '
                             f'values; the PoseTrack layout needs {NUM_KEYPOINTS}x3={NUM_KEYPOINTS * 3}')
        if 'bbox' not in ann and max(kpts) > 0:
            raise ValueError(f'{path}: annotations[{i}] (id={ann["id"]}) has keypoints but no '
                             'field "bbox"')
        if 'bbox' in ann and not is_xywh(ann['bbox']):
            raise ValueError(f'{path}: annotations[{i}] (id={ann["id"]}) field "bbox" must be 4 numbers '
                             f'[x, y, w, h], got {ann["bbox"]!r}')
    data.setdefault('categories', [copy.deepcopy(PERSON_CATEGORY)])
    return data


# ------------------------------------------------------------------------------------------ per-video merge
def merge_posetrack_videos(videos: Iterable[Tuple[str, dict]]) -> dict:
    """Concatenate per-video ``{images, annotations, categories}`` dicts into one COCO-style dict.

    Args:
        videos (Iterable[tuple[str, dict]]): ``(source, data)`` pairs in order; ``source`` (a file name)
            names the video in errors. Extra fields of images and annotations are kept.

    Raises:
        ValueError: an image id appears twice (PoseTrack ids are :func:`posetrack_image_id` of the video
            number and frame index, so two videos sharing a video number clash).

    Returns:
        dict: ``images``, ``annotations`` and ``categories`` (of the last video; :data:`PERSON_CATEGORY`
        without videos).
    """
    merged = dict(images=[], annotations=[], categories=[copy.deepcopy(PERSON_CATEGORY)])
    image_src: Dict[Any, str] = {}
    for src, data in videos:
        for img in data['images']:
            if img['id'] in image_src:
                raise ValueError(f'image id {img["id"]} ({img.get("file_name")}) appears in both '
                                 f'{image_src[img["id"]]} and {src}: image ids are unique per video '
                                 'number and frame, so two videos share a video number')
            image_src[img['id']] = src
        merged['images'] += data['images']
        merged['annotations'] += data['annotations']
        merged['categories'] = data.get('categories', merged['categories'])
    return merged


def load_posetrack_annotations(ann_file: str) -> dict:
    """Load a merged PoseTrack json, or merge a directory of per-video jsons (sorted by name).

    Every file is checked by :func:`load_posetrack_json` and merged by :func:`merge_posetrack_videos`
    (image ids must be unique across files).

    Returns:
        dict: ``images``, ``annotations`` and ``categories`` (of the last file).
    """
    if osp.isdir(ann_file):
        files = [osp.join(ann_file, name) for name in list_json_files(ann_file)]
        if not files:
            raise FileNotFoundError(f'ann_file directory {ann_file} holds no .json file')
    elif exists(ann_file):
        files = [ann_file]
    else:
        raise FileNotFoundError(f'ann_file {ann_file} does not exist')
    return merge_posetrack_videos((path, load_posetrack_json(path)) for path in files)
