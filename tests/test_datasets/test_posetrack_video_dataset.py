import json
import os.path as osp

import numpy as np
import pytest
from mmpose.evaluation.metrics import CocoMetric

import diffpose_mm.datasets.posetrack_video_dataset as ptv
from diffpose_mm.datasets import PoseTrackVideoDataset, support_frame_indices


def build(ann_file, data_root, **kwargs):
    kwargs.setdefault('test_mode', True)
    return PoseTrackVideoDataset(
        ann_file=str(ann_file), data_root=str(data_root), data_prefix=dict(img=''), pipeline=[], **kwargs)


@pytest.fixture
def logged(monkeypatch):
    """Messages the dataset sends to MMEngine's logger."""
    messages = []
    monkeypatch.setattr(ptv, 'print_log', lambda msg, **kw: messages.append((msg, kw)))
    return messages


def frame_indices(paths):
    return [int(osp.splitext(osp.basename(p))[0]) for p in paths]


# ----------------------------------------------------------------------------- frame selection
def test_support_frame_indices():
    assert support_frame_indices(5, nframes=10, num_adjacent=2) == [3, 4, 5, 6, 7]
    assert support_frame_indices(0, nframes=10, num_adjacent=2) == [0, 0, 0, 1, 2]
    assert support_frame_indices(9, nframes=10, num_adjacent=2) == [7, 8, 9, 9, 9]
    assert support_frame_indices(1, nframes=10, num_adjacent=2, first_index=1) == [1, 1, 1, 2, 3]
    assert support_frame_indices(10, nframes=10, num_adjacent=1, first_index=1) == [9, 10, 10]
    assert support_frame_indices(4, nframes=10, num_adjacent=0) == [4]


def test_temporal_order_and_clamping_posetrack18(video_builder):
    data = video_builder.video('000001_v', nframes=6, labelled=[0, 3, 5])
    ann = video_builder.write_json(data)
    ds = build(ann, video_builder.root, num_adjacent=2)
    assert len(ds) == 3
    vdir = osp.join(str(video_builder.root), 'images/val/000001_v')
    expected = {0: [0, 0, 0, 1, 2], 3: [1, 2, 3, 4, 5], 5: [3, 4, 5, 5, 5]}
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        key = int(osp.splitext(osp.basename(info['img_path']))[0])
        assert info['frame_paths'] == [osp.join(vdir, f'{k:06d}.jpg') for k in expected[key]]
        assert isinstance(info['img_path'], str)
        assert info['img_path'] == info['frame_paths'][2] == osp.join(vdir, f'{key:06d}.jpg')


def test_temporal_order_and_clamping_posetrack17(video_builder):
    # PoseTrack17: 8-digit names counted from 1, detected from the key frame's name
    data = video_builder.video('000002_mpii', nframes=6, labelled=[1, 6], digits=8, first=1)
    ann = video_builder.write_json(data)
    ds = build(ann, video_builder.root, num_adjacent=2)
    got = sorted(frame_indices(ds.get_data_info(i)['frame_paths']) for i in range(len(ds)))
    assert got == [[1, 1, 1, 2, 3], [4, 5, 6, 6, 6]]
    assert all(
        osp.basename(p) == f'{k:08d}.jpg' for i in range(len(ds))
        for p, k in zip(ds.get_data_info(i)['frame_paths'], frame_indices(ds.get_data_info(i)['frame_paths'])))
    # told explicitly (wrongly) that frames count from 0: frame 0 is looked for and key frame 6
    # falls outside the 6-frame video
    with pytest.raises(FileNotFoundError, match=r'000002_mpii[/\\]00000000\.jpg'):
        build(ann, video_builder.root, num_adjacent=2, frame_index_start=0)
    last_only = video_builder.write_json(
        dict(images=data['images'][1:], annotations=data['annotations'][1:]), 'last.json')
    with pytest.raises(ValueError, match='index 6, outside the video'):
        build(last_only, video_builder.root, num_adjacent=2, frame_index_start=0)


def test_explicit_frame_index_start(video_builder):
    # a 6-digit dataset whose frames start at 1 (not auto-detectable)
    data = video_builder.video('000003_v', nframes=4, labelled=[1, 4], first=1)
    ann = video_builder.write_json(data)
    ds = build(ann, video_builder.root, num_adjacent=1, frame_index_start=1)
    got = sorted(frame_indices(ds.get_data_info(i)['frame_paths']) for i in range(len(ds)))
    assert got == [[1, 1, 2], [3, 4, 4]]
    with pytest.raises(FileNotFoundError, match='000000.jpg'):  # auto (0-based) needs frame 0
        build(ann, video_builder.root, num_adjacent=1)


def test_num_adjacent_zero(video_builder):
    ann = video_builder.write_json(video_builder.video('000001_v', nframes=3, labelled=[1]))
    info = build(ann, video_builder.root, num_adjacent=0).get_data_info(0)
    assert info['frame_paths'] == [info['img_path']]


def test_invalid_options(video_builder):
    ann = video_builder.write_json(video_builder.video('000001_v', nframes=3, labelled=[1]))
    for kwargs, field in ((dict(num_adjacent=-1), 'num_adjacent'), (dict(missing_frame='skip'), 'missing_frame'),
                          (dict(frame_index_start=-2), 'frame_index_start'), (dict(data_mode='bottomup'), 'data_mode')):
        with pytest.raises(ValueError, match=field):
            build(ann, video_builder.root, **kwargs)


# ----------------------------------------------------------------------------- data info fields
def test_synthetic_train_samples(synthetic_root):
    ann_file = synthetic_root / 'annotations' / 'posetrack18_train.json'
    raw = json.loads(ann_file.read_text())
    ds = build(ann_file, synthetic_root, num_adjacent=2, test_mode=False)
    anns = {a['id']: a for a in raw['annotations']}
    imgs = {im['id']: im for im in raw['images']}
    assert len(ds) == len(anns) > 0
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        ann, img = anns[info['id']], imgs[info['img_id']]
        assert info['img_path'] == osp.join(str(synthetic_root), img['file_name'])
        key = int(osp.basename(img['file_name'])[:6])
        last = img['nframes'] - 1
        assert frame_indices(info['frame_paths']) == [min(max(key + o, 0), last) for o in (-2, -1, 0, 1, 2)]
        kpts = np.array(ann['keypoints']).reshape(1, 17, 3)
        np.testing.assert_allclose(info['keypoints'], kpts[..., :2], rtol=0, atol=1e-4)
        np.testing.assert_array_equal(info['keypoints_visible'], np.minimum(kpts[..., 2], 1))
        x, y, w, h = ann['bbox']
        np.testing.assert_allclose(info['bbox'], [[x, y, x + w, y + h]], atol=1e-3)
        assert info['bbox'].shape == (1, 4) and info['bbox_score'].tolist() == [1.0]
        assert info['num_keypoints'] == ann['num_keypoints']
        assert int(info['category_id']) == 1
        assert info['raw_ann_info'] == ann
    assert ds.metainfo['dataset_name'] == 'posetrack18'
    assert ds.metainfo['num_keypoints'] == 17


def test_directory_equals_merged_file(synthetic_root):
    merged = build(synthetic_root / 'annotations' / 'posetrack18_val.json', synthetic_root)
    per_video = build(synthetic_root / 'annotations' / 'val', synthetic_root)
    assert len(merged) == len(per_video) > 0

    def key(ds):
        return sorted((ds.get_data_info(i)['id'], tuple(ds.get_data_info(i)['frame_paths']),
                       tuple(ds.get_data_info(i)['bbox'][0].tolist())) for i in range(len(ds)))

    assert key(merged) == key(per_video)


def test_real_posetrack18_fixture(posetrack18_fixture):
    ann_file = posetrack18_fixture / 'annotations' / 'test_posetrack18_val.json'
    raw = json.loads(ann_file.read_text())
    ds = build(ann_file, posetrack18_fixture, num_adjacent=0)
    with_kpts = [a for a in raw['annotations'] if a.get('keypoints') and max(a['keypoints']) > 0]
    assert len(ds) == len(with_kpts) == 14
    imgs = {im['id']: im for im in raw['images']}
    for i, ann in enumerate(with_kpts):
        info = ds.get_data_info(i)
        assert info['id'] == ann['id'] and info['img_id'] == ann['image_id']
        path = osp.join(str(posetrack18_fixture), imgs[ann['image_id']]['file_name'])
        assert info['img_path'] == path and info['frame_paths'] == [path]
        np.testing.assert_allclose(info['keypoints'].reshape(-1),
                                   np.array(ann['keypoints']).reshape(17, 3)[:, :2].reshape(-1), atol=1e-3)
    # the official per-video directory gives the same samples
    per_video = build(posetrack18_fixture / 'annotations' / 'val', posetrack18_fixture, num_adjacent=0)
    assert sorted(per_video.get_data_info(i)['id'] for i in range(len(per_video))) == sorted(a['id'] for a in with_kpts)


def test_real_fixture_missing_supporting_frame(posetrack18_fixture, logged):
    ann_file = posetrack18_fixture / 'annotations' / 'test_posetrack18_val.json'
    # frames after 000000 of the labelled videos are absent: the default is a clear error
    with pytest.raises(FileNotFoundError, match=r'012834_mpii_test[/\\]000001\.jpg'):
        build(ann_file, posetrack18_fixture, num_adjacent=1)
    # opt-in fallback: the nearest existing frame (here the key frame itself) and a warning
    ds = build(ann_file, posetrack18_fixture, num_adjacent=2, missing_frame='nearest')
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        assert info['frame_paths'] == [info['img_path']] * 5
    warnings = [m for m, kw in logged if kw.get('level') == 30]
    assert len(warnings) == 1 and '6 missing supporting frame(s)' in warnings[0]


def test_nearest_existing_frame(video_builder, logged):
    # frames 2, 4, 5 are missing; key frame 3 with δ=2 asks for 1..5
    data = video_builder.video('000001_v', nframes=7, labelled=[3], existing=[0, 1, 3, 6])
    ann = video_builder.write_json(data)
    info = build(ann, video_builder.root, num_adjacent=2, missing_frame='nearest').get_data_info(0)
    # 2 -> 1 or 3 (tie: towards the key frame), 4 -> 3, 5 -> 6
    assert frame_indices(info['frame_paths']) == [1, 3, 3, 3, 6]
    assert any('3 missing supporting frame(s)' in m for m, _ in logged)


def test_missing_key_frame_is_always_an_error(video_builder):
    data = video_builder.video('000001_v', nframes=5, labelled=[2], existing=[0, 1, 3, 4])
    ann = video_builder.write_json(data)
    with pytest.raises(FileNotFoundError, match=r'Key frame .*000001_v[/\\]000002\.jpg'):
        build(ann, video_builder.root, num_adjacent=1, missing_frame='nearest')


# ----------------------------------------------------------------------------- detections
def test_detection_boxes_and_score_threshold(synthetic_root):
    ann_file = synthetic_root / 'annotations' / 'posetrack18_val.json'
    bbox_file = synthetic_root / 'annotations' / 'posetrack18_val_human_detections.json'
    raw = json.loads(ann_file.read_text())
    labelled = {im['id'] for im in raw['images'] if im['is_labeled']}
    dets = [d for d in json.loads(bbox_file.read_text()) if d['image_id'] in labelled]
    for thr in (0.0, 0.4, 0.8):
        ds = build(ann_file, synthetic_root, bbox_file=str(bbox_file), filter_cfg=dict(bbox_score_thr=thr))
        kept = [d for d in dets if d['score'] >= thr]
        assert len(ds) == len(kept) > 0
        got = sorted(
            (ds.get_data_info(i)['img_id'], round(ds.get_data_info(i)['bbox_score'].item(), 4)) for i in range(len(ds)))
        assert got == sorted((d['image_id'], d['score']) for d in kept)
    ds = build(ann_file, synthetic_root, bbox_file=str(bbox_file))
    info = ds.get_data_info(0)
    x, y, w, h = dets[0]['bbox']
    np.testing.assert_allclose(info['bbox'], [[x, y, x + w, y + h]], atol=1e-3)
    assert info['keypoints'].shape == (1, 17, 2) and not info['keypoints'].any()
    assert len(info['frame_paths']) == 5 and info['img_path'] == info['frame_paths'][2]


def test_dcpose_style_detections(synthetic_root, tmp_path):
    ann_file = synthetic_root / 'annotations' / 'posetrack18_val.json'
    bbox_file = synthetic_root / 'annotations' / 'posetrack18_val_human_detections.json'
    images = {im['id']: im for im in json.loads(ann_file.read_text())['images']}
    dets = json.loads(bbox_file.read_text())
    dcpose = [
        dict(image_name=images[d['image_id']]['file_name'], bbox=d['bbox'], score=d['score'],
             nframes=images[d['image_id']]['nframes'], category_id=1) for d in dets
    ]
    dcpose_file = tmp_path / 'val_boxes.json'
    dcpose_file.write_text(json.dumps(dcpose))
    a = build(ann_file, synthetic_root, bbox_file=str(bbox_file))
    b = build(ann_file, synthetic_root, bbox_file=str(dcpose_file))
    assert len(a) == len(b) > 0
    for i in range(len(a)):
        ia, ib = a.get_data_info(i), b.get_data_info(i)
        assert ia['img_id'] == ib['img_id'] and ia['frame_paths'] == ib['frame_paths']
        np.testing.assert_array_equal(ia['bbox'], ib['bbox'])


def test_bad_detection_files(synthetic_root, tmp_path):
    ann_file = synthetic_root / 'annotations' / 'posetrack18_val.json'
    no_score = tmp_path / 'no_score.json'
    no_score.write_text(json.dumps([dict(image_id=1, bbox=[0, 0, 1, 1], category_id=1)]))
    with pytest.raises(ValueError, match=r'no_score\.json.*"score"'):
        build(ann_file, synthetic_root, bbox_file=str(no_score))
    wrong = tmp_path / 'wrong_split.json'
    wrong.write_text(json.dumps([dict(image_id=123, bbox=[0, 0, 1, 1], score=0.9, category_id=1)]))
    with pytest.raises(ValueError, match=r'wrong_split\.json.*none of its 1 detections'):
        build(ann_file, synthetic_root, bbox_file=str(wrong))
    empty = tmp_path / 'empty.json'
    empty.write_text('[]')
    with pytest.raises(ValueError, match=r'empty\.json: holds no detections'):
        build(ann_file, synthetic_root, bbox_file=str(empty))


def test_video_with_one_frame(video_builder):
    """A one-frame video is valid: every frame of the window is the key frame (clamped at both borders)."""
    ann = video_builder.write_json(video_builder.video('000001_v', nframes=1, labelled=[0]))
    ds = build(ann, video_builder.root, num_adjacent=2)
    info = ds.get_data_info(0)
    key = osp.join(str(video_builder.root), 'images/val/000001_v/000000.jpg')
    assert len(ds) == 1 and info['frame_paths'] == [key] * 5


# ----------------------------------------------------------------------------- bad annotations
def test_annotations_without_keypoints_are_skipped_and_counted(video_builder, logged):
    data = video_builder.video('000001_v', nframes=3, labelled=[1], anns_per_frame=4)
    del data['annotations'][0]['keypoints']
    data['annotations'][1]['keypoints'] = [0] * 51
    data['annotations'][2]['keypoints'] = []
    ann = video_builder.write_json(data)
    ds = build(ann, video_builder.root, num_adjacent=1, test_mode=False)
    assert [ds.get_data_info(i)['id'] for i in range(len(ds))] == [data['annotations'][3]['id']]
    assert any('skipped 3 annotation(s) without keypoints' in m for m, _ in logged)


@pytest.mark.parametrize('num_values', [14 * 3, 17 * 2, 18 * 3])
def test_unknown_keypoint_layout(video_builder, num_values):
    data = video_builder.video('000001_v', nframes=3, labelled=[1])
    data['annotations'][0]['keypoints'] = [1.0] * num_values
    ann = video_builder.write_json(data, 'layout.json')
    with pytest.raises(ValueError, match=rf'layout\.json.*"keypoints" has {num_values} values'):
        build(ann, video_builder.root)


def test_malformed_json(video_builder):
    data = video_builder.video('000001_v', nframes=3, labelled=[1])
    cases = {
        'no_images.json': (dict(annotations=data['annotations']), '"images"'),
        'no_annotations.json': (dict(images=data['images']), '"annotations"'),
        'no_nframes.json': (dict(images=[{
            k: v
            for k, v in data['images'][0].items() if k != 'nframes'
        }], annotations=data['annotations']), '"nframes"'),
        'no_bbox.json': (dict(images=data['images'], annotations=[{
            k: v
            for k, v in data['annotations'][0].items() if k != 'bbox'
        }]), '"bbox"'),
        'bad_image_id.json': (dict(images=data['images'], annotations=[dict(data['annotations'][0],
                                                                            image_id=7)]), 'image_id 7'),
    }
    for name, (content, field) in cases.items():
        ann = video_builder.write_json(content, name)
        with pytest.raises(ValueError, match=rf'{name.replace(".", r"[.]")}.*{field}'):
            build(ann, video_builder.root)
    broken = video_builder.root / 'annotations' / 'broken.json'
    broken.write_text('{"images": [')
    with pytest.raises(ValueError, match=r'broken\.json.*not a valid json'):
        build(broken, video_builder.root)
    with pytest.raises(FileNotFoundError, match='nothing.json'):
        build(video_builder.root / 'nothing.json', video_builder.root)


def test_duplicate_image_ids_across_video_files(video_builder):
    a = video_builder.video('000001_v', nframes=3, labelled=[1], vid=1)
    b = video_builder.video('000002_v', nframes=3, labelled=[1], vid=1)  # same ids
    video_builder.write_json(a, 'val/000001_v.json')
    video_builder.write_json(b, 'val/000002_v.json')
    with pytest.raises(ValueError, match=r'000001_v\.json and .*000002_v\.json'):
        build(video_builder.root / 'annotations' / 'val', video_builder.root)


# ----------------------------------------------------------------------------- metric compatibility
@pytest.mark.parametrize('ann_source', ['merged', 'directory'])
def test_coco_metric_accepts_the_samples(synthetic_root, tmp_path, ann_source):
    """Ground truth fed back as prediction gives AP 1 with MMPose's CocoMetric."""
    ann_file = synthetic_root / 'annotations' / 'posetrack18_val.json'
    if ann_source == 'merged':
        ds = build(ann_file, synthetic_root, num_adjacent=1)
        metric = CocoMetric(ann_file=str(ann_file), outfile_prefix=str(tmp_path / 'm'))
    else:
        ds = build(synthetic_root / 'annotations' / 'val', synthetic_root, num_adjacent=1)
        metric = CocoMetric(outfile_prefix=str(tmp_path / 'd'))
    metric.dataset_meta = ds.metainfo
    samples = []
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        samples.append(
            dict(id=info['id'], img_id=info['img_id'], category_id=1, ori_shape=(240, 320),
                 raw_ann_info=info['raw_ann_info'], pred_instances=dict(keypoints=info['keypoints'],
                                                                        keypoint_scores=np.ones((1, 17), np.float32)),
                 gt_instances=dict(bbox_scores=info['bbox_score'])))
    metric.process([], samples)
    results = metric.evaluate(len(samples))
    assert results['coco/AP'] == pytest.approx(1.0)


def test_detections_on_unlabelled_or_unknown_frames_are_ignored(synthetic_root, tmp_path, logged):
    ann_file = synthetic_root / 'annotations' / 'posetrack18_val.json'
    images = json.loads(ann_file.read_text())['images']
    labelled = next(im for im in images if im['is_labeled'])
    unlabelled = next(im for im in images if not im['is_labeled'])
    dets = [
        dict(image_id=im_id, bbox=[10, 10, 50, 100], score=0.9, category_id=cat)
        for im_id, cat in ((labelled['id'], 1), (unlabelled['id'], 1), (42, 1), (labelled['id'], 2))
    ]
    bbox_file = tmp_path / 'dets.json'
    bbox_file.write_text(json.dumps(dets))
    ds = build(ann_file, synthetic_root, bbox_file=str(bbox_file))
    assert len(ds) == 1 and ds.get_data_info(0)['img_id'] == labelled['id']
    assert any('ignored 1 detection(s) on images not in' in m and '1 on unlabelled frames' in m for m, _ in logged)


def test_malformed_bbox_names_file_and_field(tmp_path):
    """A bbox that is not [x, y, w, h] fails at load time, naming the file, the annotation and the field."""
    from diffpose_mm.datasets.posetrack_format import load_posetrack_json
    ann = dict(images=[dict(id=1, file_name='images/val/v/000000.jpg', nframes=1)],
               annotations=[dict(id=7, image_id=1, bbox=[1, 2, 3], keypoints=[1, 1, 1] * 17)])
    path = tmp_path / 'bad_bbox.json'
    path.write_text(json.dumps(ann))
    with pytest.raises(ValueError, match=r'bad_bbox\.json: annotations\[0\] \(id=7\) field "bbox"'):
        load_posetrack_json(str(path))
