"""``diffpose_mm.testing.make_synthetic_posetrack`` and its command line,
``tools/dataset_converters/make_synthetic_posetrack.py``."""
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from diffpose_mm.testing import make_synthetic_posetrack

REPO = Path(__file__).resolve().parents[2]
SMALL = dict(num_train_videos=1, num_val_videos=1, train_frames=9, val_frames=9, img_size=(160, 120))


def tree(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()}


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    make_synthetic_posetrack(str(tmp_path / 'a'), seed=3, **SMALL)
    make_synthetic_posetrack(str(tmp_path / 'b'), seed=3, **SMALL)
    make_synthetic_posetrack(str(tmp_path / 'c'), seed=4, **SMALL)
    a, b, c = tree(tmp_path / 'a'), tree(tmp_path / 'b'), tree(tmp_path / 'c')
    assert a.keys() == b.keys() == c.keys()
    assert any(k.endswith('.jpg') for k in a) and any(k.endswith('.json') for k in a)
    assert a == b  # identical json and pixels
    assert a['annotations/posetrack18_val.json'] != c['annotations/posetrack18_val.json']
    assert a['images/val/200001_synth_val/000000.jpg'] != c['images/val/200001_synth_val/000000.jpg']


def test_cli(tmp_path):
    out = tmp_path / 'cli'
    cmd = [
        sys.executable,
        str(REPO / 'tools/dataset_converters/make_synthetic_posetrack.py'), '--out',
        str(out), '--seed', '3', '--num-train-videos', '1', '--num-val-videos', '1', '--train-frames', '9',
        '--val-frames', '9', '--img-size', '160', '120'
    ]
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr
    assert 'val_annotations=' in proc.stdout
    ref = tmp_path / 'ref'
    make_synthetic_posetrack(str(ref), seed=3, **SMALL)
    assert tree(out) == tree(ref)


def test_invalid_arguments(tmp_path):
    with pytest.raises(ValueError, match='num_val_videos'):
        make_synthetic_posetrack(str(tmp_path), num_val_videos=0)


@pytest.fixture(scope='module')
def files(synthetic_root):
    ann = synthetic_root / 'annotations'
    return dict(
        train=json.loads((ann / 'posetrack18_train.json').read_text()), val=json.loads(
            (ann / 'posetrack18_val.json').read_text()), dets=json.loads(
                (ann / 'posetrack18_val_human_detections.json').read_text()), per_video={
                    split: {
                        p.stem: json.loads(p.read_text())
                        for p in sorted((ann / split).glob('*.json'))
                    }
                    for split in ('train', 'val')
                })


@pytest.mark.parametrize('split', ['train', 'val'])
def test_posetrack18_layout(synthetic_root, files, split):
    data = files[split]
    assert data['categories'][0]['name'] == 'person'
    assert len(data['categories'][0]['keypoints']) == 17
    videos = {}
    for img in data['images']:
        path = synthetic_root / img['file_name']
        assert img['file_name'].startswith(f'images/{split}/') and path.is_file()
        videos.setdefault(path.parent.name, []).append(img)
        assert img['id'] == img['frame_id'] == int(f'1{img["vid_id"]}{path.stem[2:]}')
    for name, imgs in videos.items():
        frames = sorted((synthetic_root / 'images' / split / name).glob('*.jpg'))
        # 6-digit names from 000000, nframes matches the files on disk
        assert [f.name for f in frames] == [f'{i:06d}.jpg' for i in range(len(frames))]
        assert all(img['nframes'] == len(frames) for img in imgs)
        labelled = [int(Path(i['file_name']).stem) for i in imgs if i['is_labeled']]
        if split == 'val':
            assert labelled == list(range(0, len(frames), 4))
        else:  # a dense block in the centre
            assert labelled == list(range(labelled[0], labelled[-1] + 1))
            assert labelled[0] > 0 and labelled[-1] < len(frames) - 1
        shape = cv2.imread(str(frames[0])).shape
        assert shape == (imgs[0]['height'], imgs[0]['width'], 3) == (240, 320, 3)
    # the official-style per-video files hold the same content
    per_video = files['per_video'][split]
    assert sorted(per_video) == sorted(videos)
    assert sum(len(v['images']) for v in per_video.values()) == len(data['images'])
    assert sorted(a['id'] for v in per_video.values() for a in v['annotations']) == sorted(a['id']
                                                                                           for a in data['annotations'])


@pytest.mark.parametrize('split', ['train', 'val'])
def test_annotations(files, split):
    data = files[split]
    images = {img['id']: img for img in data['images']}
    seen = set()
    assert data['annotations']
    for ann in data['annotations']:
        img = images[ann['image_id']]
        assert img['is_labeled']
        kpts = np.array(ann['keypoints']).reshape(17, 3)
        assert (kpts[3:5] == 0).all()  # ears unlabelled, as in PoseTrack
        labelled = kpts[:, 2] > 0
        assert ann['num_keypoints'] == labelled.sum() >= 10
        xy = kpts[labelled, :2]
        assert (xy >= 0).all() and (xy[:, 0] <= img['width'] - 1).all()
        assert (xy[:, 1] <= img['height'] - 1).all()
        x, y, w, h = ann['bbox']
        assert (xy[:, 0] >= x).all() and (xy[:, 0] <= x + w).all()
        assert (xy[:, 1] >= y).all() and (xy[:, 1] <= y + h).all()
        assert ann['area'] == pytest.approx(w * h, abs=0.01)
        hx, hy, hw, hh = ann['bbox_head']
        head_top = kpts[2, :2]
        assert hx <= head_top[0] <= hx + hw and hy - 1 <= head_top[1] <= hy + hh
        key = (ann['image_id'], ann['track_id'])
        assert key not in seen
        seen.add(key)


def test_motion_is_smooth(files):
    """A joint moves a few pixels between consecutive labelled train frames, never jumps."""
    tracks = {}
    for ann in files['train']['annotations']:
        tracks.setdefault((ann['image_id'] // 10000, ann['track_id']), []).append(ann)
    for anns in tracks.values():
        anns.sort(key=lambda a: a['image_id'])
        kpts = np.array([a['keypoints'] for a in anns]).reshape(len(anns), 17, 3)
        both = (kpts[1:, :, 2] > 0) & (kpts[:-1, :, 2] > 0)
        step = np.linalg.norm(np.diff(kpts[..., :2], axis=0), axis=-1)[both]
        assert step.max() < 12 and step.mean() > 0.3


def test_degradations_and_ignore_regions(files):
    images = files['train']['images'] + files['val']['images']
    kinds = {img['degradation'] for img in images}
    assert kinds == {'none', 'blur', 'occlusion'}
    by_video = {}
    for img in images:
        by_video.setdefault(img['vid_id'], []).append(img)
    for imgs in by_video.values():
        degraded = [i for i, img in enumerate(imgs) if img['degradation'] != 'none']
        # a degraded frame always has clean neighbours t-2..t+2
        assert all(b - a >= 3 for a, b in zip(degraded, degraded[1:]))
    degraded_keys = [img for img in images if img['is_labeled'] and img['degradation'] != 'none']
    assert len(degraded_keys) >= 0.2 * sum(img['is_labeled'] for img in images)
    with_ignore = [img for img in images if img['ignore_regions_x']]
    assert with_ignore and all(img['is_labeled'] for img in with_ignore)
    for img in with_ignore:
        assert len(img['ignore_regions_x']) == len(img['ignore_regions_y'])
        assert all(len(x) == len(y) >= 3 for x, y in zip(img['ignore_regions_x'], img['ignore_regions_y']))


def test_degraded_key_frames_differ_from_their_neighbours(synthetic_root, files):
    """Blur/occlusion change the key frame much more than the motion between clean frames."""
    images = files['val']['images']
    diffs = {'clean': [], 'degraded': []}
    for i in range(1, len(images) - 1):
        img, prev, nxt = images[i], images[i - 1], images[i + 1]
        if prev['vid_id'] != img['vid_id'] or nxt['vid_id'] != img['vid_id']:
            continue
        a, b, c = (cv2.imread(str(synthetic_root / x['file_name'])).astype(np.float32) for x in (prev, img, nxt))
        d = np.abs(b - (a + c) / 2).mean()
        diffs['clean' if img['degradation'] == 'none' else 'degraded'].append(d)
    assert diffs['degraded'] and np.median(diffs['degraded']) > 1.5 * np.median(diffs['clean'])


def test_detection_file(files):
    images = {img['id']: img for img in files['val']['images']}
    gt = {}
    for ann in files['val']['annotations']:
        gt.setdefault(ann['image_id'], []).append(ann['bbox'])
    dets = files['dets']
    assert dets and all(set(d) == {'image_id', 'category_id', 'bbox', 'score'} for d in dets)
    assert all(images[d['image_id']]['is_labeled'] and 0 < d['score'] <= 1 for d in dets)

    def iou(a, b):
        ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
        iw = max(0, min(ax2, bx2) - max(a[0], b[0]))
        ih = max(0, min(ay2, by2) - max(a[1], b[1]))
        return iw * ih / (a[2] * a[3] + b[2] * b[3] - iw * ih)

    best = [max((iou(d['bbox'], g) for g in gt.get(d['image_id'], [])), default=0) for d in dets]
    true_pos = [d for d, o in zip(dets, best) if o > 0.5]
    false_pos = [d for d, o in zip(dets, best) if o < 0.3]
    # every GT person is detected (jittered, not exact), plus some false positives
    assert len(true_pos) == sum(len(v) for v in gt.values())
    assert all(o < 0.999 for o in best)
    assert false_pos and max(d['score'] for d in false_pos) < min(d['score'] for d in true_pos)


def test_default_val_split_is_large_enough_to_rank_settings(tmp_path):
    """The default benchmark: at least 400 evaluated people, a third of them on blurred or occluded key frames."""
    summary = make_synthetic_posetrack(str(tmp_path))  # the defaults, as `make demo` writes them
    val = json.loads((tmp_path / 'annotations' / 'posetrack18_val.json').read_text())
    degraded = {im['id'] for im in val['images'] if im['degradation'] != 'none'}
    people = [a for a in val['annotations'] if a['num_keypoints'] > 0]
    assert summary['val_annotations'] == len(val['annotations']) >= 400
    assert sum(a['image_id'] in degraded for a in people) >= len(people) / 3


@pytest.mark.parametrize('seed', [0, 2, 3, 4])
def test_small_images_get_detections_inside_the_image(tmp_path, seed):
    make_synthetic_posetrack(
        str(tmp_path), seed=seed, num_train_videos=1, num_val_videos=2, train_frames=3, val_frames=9, img_size=(96, 72))
    for det in json.loads((tmp_path / 'annotations' / 'posetrack18_val_human_detections.json').read_text()):
        x, y, w, h = det['bbox']
        assert w > 0 and h > 0 and x + w <= 96 + 10 and y + h <= 72 + 10  # jittered GT boxes may poke out a bit
