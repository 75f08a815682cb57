import json
import os.path as osp
from pathlib import Path

import cv2
import numpy as np
import pytest

from diffpose_mm.datasets import PoseTrackVideoDataset


@pytest.fixture(scope='module')
def tool(load_tool):
    return load_tool('tools/dataset_converters/posetrack17_to_coco.py')


# the expected joint map, written out independently of diffpose_mm.datasets.posetrack_format on purpose
PT17_JOINTS = [
    'right_ankle', 'right_knee', 'right_hip', 'left_hip', 'left_knee', 'left_ankle', 'right_wrist', 'right_elbow',
    'right_shoulder', 'left_shoulder', 'left_elbow', 'left_wrist', 'head_bottom', 'nose', 'head_top'
]
PT18_SLOTS = [
    'nose', 'head_bottom', 'head_top', 'left_ear', 'right_ear', 'left_shoulder', 'right_shoulder', 'left_elbow',
    'right_elbow', 'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle',
    'right_ankle'
]
VIDEO = 'images/bonn_5sec/000007_mpii'


def pt17_point(joint, x, y, visible, wrap=True):
    w = (lambda v: [v]) if wrap else (lambda v: v)
    return dict(id=w(joint), x=w(x), y=w(y), is_visible=w(visible))


def make_pt17(root: Path):
    """A 5-frame PoseTrack17 video: frames 2 and 4 labelled, frames on disk under root."""
    frame_dir = root / VIDEO
    frame_dir.mkdir(parents=True)
    for i in range(1, 6):
        cv2.imwrite(str(frame_dir / f'{i:08d}.jpg'), np.zeros((50, 80, 3), np.uint8))
    rng = np.random.default_rng(0)
    xy = rng.uniform([20, 10], [60, 40], size=(15, 2)).round(1)
    visible = [1] * 15
    visible[4] = 0  # annotated but occluded
    person = dict(x1=[30], y1=[5], x2=[40], y2=[12], track_id=[3], score=[1.0],
                  annopoints=[dict(point=[pt17_point(j, *xy[j], visible[j], wrap=j % 2 == 0) for j in range(15)])])
    empty_person = dict(x1=[1], y1=[1], x2=[5], y2=[5], track_id=[4], annopoints=[])
    annolist = []
    for i in range(1, 6):
        entry = dict(image=[dict(name=f'{VIDEO}/{i:08d}.jpg')], imgnum=[i], is_labeled=[int(i in (2, 4))], annorect=[])
        if i == 2:
            entry['annorect'] = [person, empty_person]
        if i == 4:
            entry['annorect'] = [dict(person, track_id=[3])]
            entry['ignore_regions'] = [dict(point=[dict(x=[0], y=[0]), dict(x=[10], y=[0]), dict(x=[10], y=[10])])]
        annolist.append(entry)
    ann_dir = root / 'official' / 'val'
    ann_dir.mkdir(parents=True)
    (ann_dir / '000007_mpii.json').write_text(json.dumps(dict(annolist=annolist)))
    return ann_dir, xy, visible


def test_conversion(tool, tmp_path):
    ann_dir, xy, visible = make_pt17(tmp_path)
    out = tmp_path / 'annotations'
    tool.main([str(ann_dir), '--out', str(out), '--split', 'val', '--img-root', str(tmp_path)])
    merged = json.loads((out / 'posetrack17_val.json').read_text())
    per_video = json.loads((out / 'val' / '000007_mpii.json').read_text())
    assert merged == per_video  # one video

    images = merged['images']
    assert [im['file_name'] for im in images] == [f'{VIDEO}/{i:08d}.jpg' for i in range(1, 6)]
    assert [im['id'] for im in images] == [10000070000 + i for i in range(5)]
    assert all(im['nframes'] == 5 and im['vid_id'] == '000007' for im in images)
    assert all((im['width'], im['height']) == (80, 50) for im in images)
    assert [im['is_labeled'] for im in images] == [False, True, False, True, False]
    assert images[3]['ignore_regions_x'] == [[0, 10, 10]]
    assert images[3]['ignore_regions_y'] == [[0, 0, 10]]
    assert images[1]['ignore_regions_x'] == []

    anns = merged['annotations']
    assert [(a['image_id'], a['track_id']) for a in anns] == [(10000070001, 3), (10000070001, 4), (10000070003, 3)]
    person, empty = anns[0], anns[1]
    kpts = np.array(person['keypoints']).reshape(17, 3)
    for j, name in enumerate(PT17_JOINTS):
        slot = PT18_SLOTS.index(name)
        np.testing.assert_allclose(kpts[slot], [*xy[j], visible[j]])
    assert (kpts[3:5] == 0).all()  # ears
    assert person['num_keypoints'] == 15
    assert person['bbox_head'] == [30.0, 5.0, 10.0, 7.0]
    x, y, w, h = person['bbox']
    assert x <= xy[:, 0].min() and x + w >= xy[:, 0].max()
    assert y <= min(xy[:, 1].min(), 5) and y + h >= xy[:, 1].max()
    assert 0 <= x and x + w <= 79 and 0 <= y and y + h <= 49
    assert person['area'] == pytest.approx(w * h)
    assert 'bbox' not in empty and not any(empty['keypoints']) and empty['num_keypoints'] == 0


def test_converted_posetrack17_loads_with_1_based_clamping(tool, tmp_path):
    ann_dir, _, _ = make_pt17(tmp_path)
    out = tmp_path / 'annotations'
    tool.convert_posetrack17([str(ann_dir)], str(out), 'val', img_root=str(tmp_path))
    ds = PoseTrackVideoDataset(
        ann_file=str(out / 'posetrack17_val.json'), data_root=str(tmp_path), num_adjacent=2, pipeline=[],
        test_mode=True)
    assert len(ds) == 2  # the person without points is skipped
    got = [[int(osp.basename(p)[:8]) for p in ds.get_data_info(i)['frame_paths']] for i in range(2)]
    assert got == [[1, 1, 2, 3, 4], [2, 3, 4, 5, 5]]
    assert all(osp.basename(p) == f'{k:08d}.jpg' for p, k in zip(ds.get_data_info(0)['frame_paths'], got[0]))


def test_nframes_without_image_root(tool, tmp_path):
    ann_dir, _, _ = make_pt17(tmp_path)
    data = json.loads((ann_dir / '000007_mpii.json').read_text())
    video = tool.convert_video(data, 'x.json')
    assert all(im['nframes'] == 5 for im in video['images'])
    assert all('width' not in im for im in video['images'])
    # bbox not clipped without the image size, but still around the keypoints
    kpts = np.array(video['annotations'][0]['keypoints']).reshape(17, 3)
    x, y, w, h = video['annotations'][0]['bbox']
    assert x <= kpts[kpts[:, 2] > 0, 0].min() and x + w >= kpts[:, 0].max()


def test_bad_input(tool, tmp_path):
    with pytest.raises(ValueError, match=r'v\.json.*"annolist"'):
        tool.convert_video(dict(images=[]), 'v.json')
    frame = dict(image=[dict(name=f'{VIDEO}/00000001.jpg')],
                 annorect=[dict(x1=[0], y1=[0], x2=[1], y2=[1], annopoints=[dict(point=[pt17_point(15, 1, 1, 1)])])])
    with pytest.raises(ValueError, match=r'v\.json.*joint id 15'):
        tool.convert_video(dict(annolist=[frame]), 'v.json')
    no_head = dict(frame, annorect=[dict(annopoints=[])])
    with pytest.raises(ValueError, match=r'v\.json.*annorect\[0\] has no field "x1"'):
        tool.convert_video(dict(annolist=[no_head]), 'v.json')
    bad_name = dict(frame, image=[dict(name='images/video/frame_a.jpg')])
    with pytest.raises(ValueError, match='frame_a.jpg'):
        tool.convert_video(dict(annolist=[bad_name]), 'v.json')
    broken = tmp_path / 'broken.json'
    broken.write_text('{"annolist": [')
    with pytest.raises(ValueError, match=r'broken\.json.*not a valid json'):
        tool.convert_posetrack17([str(broken)], str(tmp_path / 'out'), 'val')
