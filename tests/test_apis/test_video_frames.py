import cv2
import numpy as np
import pytest

from diffpose_mm.apis import VideoFrames


def test_frame_folder_in_name_order_with_posetrack_ids(frame_folder, tmp_path, videos):
    frame_index, index_frames, write_frame_folder = videos.frame_index, videos.index_frames, videos.write_frame_folder
    (frame_folder / 'notes.txt').write_text('not a frame')
    frames = VideoFrames(str(frame_folder))
    assert len(frames) == 7 and frames.name == '000007_demo' and frames.fps == 25.
    assert [frame_index(frames[i]) for i in range(7)] == list(range(7)) and frame_index(frames[-1]) == 6
    assert frames.frame_path(3) == str(frame_folder / '000003.png') and frames.frame_number(3) == 3
    assert frames.video_id == 7 and frames.image_id(3) == 10000070003  # 1 + 6-digit video + 4-digit frame
    # PoseTrack17 names count from 1: the number is the name's
    folder17 = write_frame_folder(tmp_path / '000012_x', index_frames(2), start=1, digits=8)
    assert [VideoFrames(str(folder17)).image_id(i) for i in range(2)] == [10000120001, 10000120002]
    with pytest.raises(IndexError, match='frame 7 of video 000007_demo'):
        frames[7]


def test_video_file_and_list_inputs(tmp_path, videos):
    frame_index, index_frames = videos.frame_index, videos.index_frames
    path = videos.write_video(tmp_path / 'clip.mp4', index_frames(6), fps=5.)
    frames = VideoFrames(str(path))
    assert len(frames) == 6 and frames.name == 'clip' and frames.fps == 5. and frames.video_id == 0
    assert [frame_index(frames[i]) for i in (0, 5, 2, 2, 1)] == [0, 5, 2, 2, 1]  # random access
    assert frames.frame_path(4) == 'clip/000004.jpg' and frames.image_id(4) == 10000000004
    arrays = VideoFrames(index_frames(3), name='cam', fps=10)
    assert len(arrays) == 3 and arrays.name == 'cam' and arrays.fps == 10 and frame_index(arrays[2]) == 2
    listed = VideoFrames([str(videos.write_frame_folder(tmp_path / '000003_v', index_frames(2)) / '000001.png')])
    assert listed.name == '000003_v' and listed.image_id(0) == 10000030001


def test_real_clip_reads_all_frames(videos):
    frames = VideoFrames(str(videos.real_clip))
    assert len(frames) == 5 and frames.fps == 5. and frames.name == 'demo'
    assert all(frames[i].shape == (540, 960, 3) for i in range(5))
    assert not np.array_equal(frames[0], frames[4])


def test_bad_inputs_name_the_file(tmp_path, videos):
    with pytest.raises(FileNotFoundError, match='missing.mp4 does not exist'):
        VideoFrames(str(tmp_path / 'missing.mp4'))
    (tmp_path / 'nothing').mkdir()
    with pytest.raises(FileNotFoundError, match='frame folder .*nothing holds no frame image'):
        VideoFrames(str(tmp_path / 'nothing'))
    (tmp_path / 'zero.mp4').write_bytes(b'')
    with pytest.raises(ValueError, match='zero.mp4 is empty'):
        VideoFrames(str(tmp_path / 'zero.mp4'))
    (tmp_path / 'text.mp4').write_text('this is not a video')
    with pytest.raises(ValueError, match='cannot read video file .*text.mp4'):
        VideoFrames(str(tmp_path / 'text.mp4'))
    writer = cv2.VideoWriter(str(tmp_path / 'no_frames.mp4'), cv2.VideoWriter_fourcc(*'mp4v'), 5, (64, 48))
    writer.release()  # a container without a single frame
    with pytest.raises(ValueError, match='cannot read video file .*no_frames.mp4'):
        VideoFrames(str(tmp_path / 'no_frames.mp4'))
    with pytest.raises(ValueError, match='list of frames is empty'):
        VideoFrames([])
    folder = videos.write_frame_folder(tmp_path / 'v', videos.index_frames(2))
    (folder / '000001.png').write_bytes(b'corrupt')
    frames = VideoFrames(str(folder))
    with pytest.raises(ValueError, match='000001.png could not be decoded'):
        frames[1]
    with pytest.raises(ValueError, match=r'frame 0 of the list must be a BGR image \(H, W, 3\)'):
        VideoFrames([np.zeros((4, 4))])[0]
