"""Read and write PoseTrack per-video json files for :mod:`.posetrack_ap`.

Both layouts of the official toolkit are read:

- PoseTrack18/21 (``images``, ``annotations`` with 17 COCO-ordered ``keypoints`` (x, y, v), per-keypoint
  ``scores`` and ``bbox_head`` (x, y, w, h)), as MMPose and this plugin write it;
- PoseTrack17 (``annolist`` with ``annorect``, ``annopoints`` and head box ``x1, y1, x2, y2``).

As in ``poseval``, a prediction file with the GT file's name must exist for every GT file and have the
same number of frames; frames are aligned by position.
"""
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ...datasets.posetrack_format import (NUM_POSETRACK_JOINTS, PERSON_CATEGORY, POSETRACK18_KEYPOINTS,
                                          POSETRACK_JOINTS, frame_key, list_json_files, read_json, write_json)
from .posetrack_ap import posetrack_joint_ap, summarize_posetrack_ap

# poseval's score for a predicted joint without a score
MISSING_SCORE = -9999.


def list_posetrack_files(gt_dir: str) -> List[str]:
    """Sorted names of the per-video ``*.json`` files in ``gt_dir``."""
    if not osp.isdir(gt_dir):
        raise FileNotFoundError(f'PoseTrack GT folder {gt_dir} does not exist')
    names = list_json_files(gt_dir)
    if not names:
        raise FileNotFoundError(f'no per-video *.json files in PoseTrack GT folder {gt_dir}')
    return names


def posetrack_frame_index(gt_dir: str) -> Dict[str, object]:
    """:func:`frame_key` of every image of the GT files in ``gt_dir`` -> its image id."""
    index = {}
    for name in list_posetrack_files(gt_dir):
        for image in read_json(osp.join(gt_dir, name)).get('images', []):
            index[frame_key(image['file_name'])] = image['id']
    return index


def _empty_people(is_gt: bool) -> dict:
    people = dict(
        keypoints=np.zeros((0, NUM_POSETRACK_JOINTS, 2)), keypoints_visible=np.zeros((0, NUM_POSETRACK_JOINTS), bool))
    if is_gt:
        people['head_bboxes'] = np.zeros((0, 4))
    else:
        people['keypoint_scores'] = np.zeros((0, NUM_POSETRACK_JOINTS))
    return people


def _stack_people(people: List[dict], is_gt: bool) -> dict:
    if not people:
        return _empty_people(is_gt)
    return {k: np.stack([p[k] for p in people]) for k in people[0]}


def _joint_table(names: Sequence[str], path: str) -> List[Optional[int]]:
    """Index in :data:`POSETRACK_JOINTS` of every keypoint name (None: not evaluated, e.g. ears)."""
    table = [POSETRACK_JOINTS.index(n) if n in POSETRACK_JOINTS else None for n in names]
    missing = [n for n in POSETRACK_JOINTS if n not in names]
    if missing:
        raise ValueError(f'{path}: categories[0].keypoints lacks the evaluated joints {missing}')
    return table


def _person_pt18(ann: dict, table: List[Optional[int]], is_gt: bool, where: str) -> dict:
    num_kpts = len(table)
    try:
        kpts = np.asarray(ann.get('keypoints', []), dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f'{where}: "keypoints" must be numbers: {e}') from e
    if kpts.ndim != 1 or kpts.size != 3 * num_kpts:
        raise ValueError(f'{where}: "keypoints" must be a flat list of {num_kpts} x 3 = {3 * num_kpts} '
                         f'numbers (x, y, v), got shape {kpts.shape}')
    kpts = kpts.reshape(num_kpts, 3)
    # an unannotated / unpredicted point is stored as (0, 0, 0)
    present = ~((kpts[:, 0] == 0) & (kpts[:, 1] == 0) & (kpts[:, 2] == 0))
    person = _empty_people(is_gt)
    person = {k: np.zeros(v.shape[1:], v.dtype) for k, v in person.items()}
    for src, dst in enumerate(table):
        if dst is not None:
            person['keypoints'][dst] = kpts[src, :2]
            person['keypoints_visible'][dst] = present[src]
    if is_gt:
        if 'bbox_head' in ann:
            x, y, w, h = np.asarray(ann['bbox_head'], dtype=np.float64).reshape(4)
            person['head_bboxes'][:] = (x, y, x + w, y + h)
        elif person['keypoints_visible'].any():
            raise ValueError(f'{where}: a GT person with keypoints needs "bbox_head" (the PCKh '
                             'reference size)')
    else:
        scores = ann.get('scores') or []  # poseval: no or empty scores -> fallback score
        if len(scores) and len(scores) != num_kpts:
            raise ValueError(f'{where}: "scores" must have {num_kpts} entries, got {len(scores)}')
        for src, dst in enumerate(table):
            if dst is not None:
                person['keypoint_scores'][dst] = scores[src] if len(scores) else MISSING_SCORE
    return person


def _frames_pt18(data: dict, path: str, is_gt: bool) -> List[dict]:
    if 'images' not in data or 'annotations' not in data:
        raise ValueError(f'{path}: expected PoseTrack18 keys "images" and "annotations" '
                         '(or PoseTrack17 "annolist")')
    cats = data.get('categories') or [{}]
    table = _joint_table(cats[0].get('keypoints', POSETRACK18_KEYPOINTS), path)
    anns_by_image: Dict[object, list] = {}
    for ann in data['annotations']:
        anns_by_image.setdefault(ann.get('image_id'), []).append(ann)
    frames = []
    for image in data['images']:
        people = [
            _person_pt18(ann, table, is_gt, f'{path} (annotation id={ann.get("id")}, '
                         f'image_id={image.get("id")})') for ann in anns_by_image.get(image.get('id'), [])
        ]
        frame = _stack_people(people, is_gt)
        frame.update(image_id=image.get('id'), file_name=image.get('file_name', ''))
        if is_gt:
            frame['is_labeled'] = bool(image.get('is_labeled', True))
            frame['ignore_regions'] = [
                np.stack([np.asarray(xs, np.float64), np.asarray(ys, np.float64)], axis=1)
                for xs, ys in zip(image.get('ignore_regions_x') or [],
                                  image.get('ignore_regions_y') or [])
            ]
        frames.append(frame)
    return frames


def _frames_pt17(data: dict, path: str, is_gt: bool) -> List[dict]:
    frames = []
    for i, entry in enumerate(data['annolist']):
        people = []
        for r, rect in enumerate(entry.get('annorect') or []):
            where = f'{path} (annolist[{i}].annorect[{r}])'
            person = {k: np.zeros(v.shape[1:], v.dtype) for k, v in _empty_people(is_gt).items()}
            annopoints = rect.get('annopoints') or [{}]
            for point in (annopoints[0] or {}).get('point', []):
                try:
                    jid = int(point['id'][0])
                    xy = (float(point['x'][0]), float(point['y'][0]))
                except (KeyError, IndexError, TypeError, ValueError) as e:
                    raise ValueError(f'{where}: malformed point {point}') from e
                if not 0 <= jid < NUM_POSETRACK_JOINTS:
                    raise ValueError(f'{where}: joint id {jid} outside 0..{NUM_POSETRACK_JOINTS - 1}')
                if person['keypoints_visible'][jid]:  # poseval uses the first point of an id
                    continue
                person['keypoints'][jid] = xy
                person['keypoints_visible'][jid] = True
                if not is_gt:
                    person['keypoint_scores'][jid] = (float(point['score'][0]) if 'score' in point else MISSING_SCORE)
            if is_gt:
                if all(k in rect for k in ('x1', 'y1', 'x2', 'y2')):
                    person['head_bboxes'][:] = [rect[k][0] for k in ('x1', 'y1', 'x2', 'y2')]
                elif person['keypoints_visible'].any():
                    raise ValueError(f'{where}: a GT person with points needs the head box '
                                     'x1, y1, x2, y2')
            people.append(person)
        frame = _stack_people(people, is_gt)
        image = (entry.get('image') or [{}])[0]
        frame.update(image_id=None, file_name=image.get('name', ''))
        if is_gt:
            frame['ignore_regions'] = [
                np.array([[p['x'][0], p['y'][0]] for p in region.get('point', [])], np.float64)
                for region in entry.get('ignore_regions') or []
            ]
        frames.append(frame)
    return frames


def load_posetrack_file(path: str, is_gt: bool) -> List[dict]:
    """Read one per-video PoseTrack json (PoseTrack18/21 or PoseTrack17 layout).

    Returns:
        list[dict]: one dict per frame, in file order, as :func:`posetrack_joint_ap` takes them
        (keypoints in :data:`POSETRACK_JOINTS` order), plus ``image_id`` and ``file_name``.
    """
    data = read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a json object, got {type(data).__name__}')
    if 'annolist' in data:
        return _frames_pt17(data, path, is_gt)
    return _frames_pt18(data, path, is_gt)


def load_posetrack_dir(gt_dir: str, pred_dir: str) -> Tuple[List[dict], List[dict]]:
    """Read all GT files of ``gt_dir`` and the prediction files of the same names in ``pred_dir``.

    Returns:
        tuple: aligned lists of GT frames and prediction frames over all videos.
    """
    gt_frames, pred_frames = [], []
    for name in list_posetrack_files(gt_dir):
        pred_path = osp.join(pred_dir, name)
        if not osp.isfile(pred_path):
            raise FileNotFoundError(f'prediction file {pred_path} does not exist (one prediction '
                                    f'file is needed per GT file in {gt_dir})')
        gt = load_posetrack_file(osp.join(gt_dir, name), is_gt=True)
        pred = load_posetrack_file(pred_path, is_gt=False)
        if len(pred) != len(gt):
            raise ValueError(f'{pred_path} has {len(pred)} frames but the GT file '
                             f'{osp.join(gt_dir, name)} has {len(gt)}: write every GT frame, '
                             'with an empty annotation list where nothing was predicted')
        gt_frames += gt
        pred_frames += pred
    return gt_frames, pred_frames


def evaluate_posetrack_dir(gt_dir: str, pred_dir: str, dist_thr: float = 0.5) -> 'OrderedDict[str, float]':
    """PoseTrack AP table (``Head ... Ankle, Total``, in %) of the prediction files in ``pred_dir``."""
    return summarize_posetrack_ap(posetrack_joint_ap(*load_posetrack_dir(gt_dir, pred_dir), dist_thr))


def write_posetrack_predictions(gt_dir: str, out_dir: str, preds: Dict[object, List[dict]],
                                keypoint_names: Sequence[str] = POSETRACK18_KEYPOINTS) -> List[str]:
    """Write one PoseTrack18-layout prediction file per GT file, covering every GT frame.

    Args:
        gt_dir (str): folder of per-video GT files (PoseTrack18 layout, with image ids).
        out_dir (str): output folder, created if needed.
        preds (dict): image id -> list of people, each with ``keypoints`` (K, 2),
            ``keypoint_scores`` (K,) (written as the visibility column, like MMPose) and ``scores``
            (K,) (the scores that rank the joints), ``score`` (instance score) and optionally ``track_id``
            (default: the person's index in its frame).
        keypoint_names (Sequence[str]): names of the K keypoints, written to ``categories``.

    Returns:
        list[str]: paths of the written files.
    """
    os.makedirs(out_dir, exist_ok=True)
    category = dict(PERSON_CATEGORY, keypoints=list(keypoint_names))
    written = []
    for name in list_posetrack_files(gt_dir):
        gt = read_json(osp.join(gt_dir, name))
        if 'images' not in gt:
            raise ValueError(f'{osp.join(gt_dir, name)}: writing predictions needs the PoseTrack18 '
                             'layout ("images" with ids)')
        images, annotations = [], []
        for image in gt['images']:
            images.append(dict(id=image['id'], file_name=image['file_name']))
            for index, person in enumerate(preds.get(image['id'], [])):
                kpts = np.concatenate([
                    np.asarray(person['keypoints'], np.float64).reshape(-1, 2),
                    np.asarray(person['keypoint_scores'], np.float64).reshape(-1, 1)
                ], axis=1)
                annotations.append(
                    dict(image_id=image['id'], category_id=1, track_id=int(person.get('track_id', index)),
                         keypoints=kpts.reshape(-1).tolist(), scores=np.asarray(person['scores'],
                                                                                np.float64).reshape(-1).tolist(),
                         score=float(person['score'])))
        path = osp.join(out_dir, name)
        write_json(dict(images=images, annotations=annotations, categories=[category]), path)
        written.append(path)
    return written
