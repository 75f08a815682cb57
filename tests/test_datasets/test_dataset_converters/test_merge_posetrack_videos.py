import json

import pytest

from diffpose_mm.datasets import PoseTrackVideoDataset


@pytest.fixture(scope='module')
def tool(load_tool):
    return load_tool('tools/dataset_converters/merge_posetrack_videos.py')


def test_merge_posetrack21_style_videos(tool, video_builder, tmp_path):
    videos = {}
    for vid in (1, 2):
        data = video_builder.video(f'00000{vid}_mpii_test', nframes=4, labelled=[0, 2], vid=vid)
        for ann in data['annotations']:
            ann['person_id'] = 100 + vid  # PoseTrack21 extra field
        for img in data['images']:
            img['has_labeled_person'] = True
        videos[vid] = data
        video_builder.write_json(data, f'val/00000{vid}_mpii_test.json')
    ann_dir = video_builder.root / 'annotations' / 'val'
    out = tmp_path / 'merged' / 'posetrack21_val.json'
    tool.main([str(ann_dir), '--out', str(out)])
    merged = json.loads(out.read_text())
    assert merged['images'] == videos[1]['images'] + videos[2]['images']
    assert merged['annotations'] == videos[1]['annotations'] + videos[2]['annotations']
    assert merged['annotations'][0]['person_id'] == 101
    # the dataset gives the same samples from the merged file and from the directory
    a = PoseTrackVideoDataset(
        ann_file=str(out), data_root=str(video_builder.root), num_adjacent=1, pipeline=[], test_mode=True)
    b = PoseTrackVideoDataset(
        ann_file=str(ann_dir), data_root=str(video_builder.root), num_adjacent=1, pipeline=[], test_mode=True)
    assert len(a) == len(b) == 4
    for i in range(4):
        assert a.get_data_info(i)['frame_paths'] == b.get_data_info(i)['frame_paths']
        assert a.get_data_info(i)['raw_ann_info'] == b.get_data_info(i)['raw_ann_info']


def test_merge_rejects_bad_input(tool, video_builder, tmp_path):
    data = video_builder.video('000001_v', nframes=3, labelled=[1])
    data['annotations'][0]['keypoints'] = data['annotations'][0]['keypoints'][:-3]
    video_builder.write_json(data, 'val/000001_v.json')
    with pytest.raises(ValueError, match=r'000001_v\.json.*"keypoints" has 48 values'):
        tool.merge_posetrack_videos(str(video_builder.root / 'annotations' / 'val'), str(tmp_path / 'out.json'))
    with pytest.raises(NotADirectoryError):
        tool.merge_posetrack_videos(str(tmp_path / 'missing'), str(tmp_path / 'out.json'))
