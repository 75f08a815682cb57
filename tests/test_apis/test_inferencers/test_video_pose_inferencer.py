"""VideoPoseInferencer: windows at video borders, tracks, batching, outputs, and bad inputs."""
import json
from pathlib import Path

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config

from diffpose_mm.apis import VideoFrames, VideoPoseInferencer, load_video_pose_config
from diffpose_mm.datasets import support_frame_indices
from diffpose_mm.datasets.posetrack_format import posetrack_image_id

REPO = Path(__file__).resolve().parents[3]
TINY = REPO / 'configs' / 'diffpose' / 'td-diffpose_res18-tiny_1xb16-18e_synthetic-128x96.py'


def tiny_config(**test_cfg) -> Config:
    cfg = Config.fromfile(str(TINY))
    cfg.model.test_cfg.update(dict(num_noise_groups=2, sampling_steps=1), **test_cfg)  # fast; seed 0 stays
    return cfg


@pytest.fixture(scope='module')
def inferencer():
    """The tiny video model with random weights (δ = 2), boxes given per call."""
    torch.manual_seed(0)
    return VideoPoseInferencer(tiny_config(), device='cpu')


def clip_frame_indices(batch: dict, person: int, videos) -> list:
    """Which index frame each of the clip's T crops shows (the crops of constant frames are constant)."""
    return [videos.frame_index(frame) for frame in batch['data']['inputs'][person].numpy()]


def test_windows_clamp_at_video_borders_as_in_training(inferencer, videos):
    frames = VideoFrames(videos.index_frames(7, size=(256, 192)), name='000001_x')
    box = np.array([[64, 64, 128, 192, 0.9]], np.float32)  # the padded crop stays inside the frame
    for k in range(7):
        batch = inferencer.key_frame_batch(frames, k, box, np.array([3]))
        window = support_frame_indices(k, 7, num_adjacent=2)
        assert batch['frame_indices'] == window and clip_frame_indices(batch, 0, videos) == window
    assert support_frame_indices(0, 7, 2) == [0, 0, 0, 1, 2] and support_frame_indices(6, 7, 2) == [4, 5, 6, 6, 6]
    sample = batch['data']['data_samples'][0]
    assert sample.img_path == '000001_x/000006.jpg' and batch['track_ids'].tolist() == [3]
    np.testing.assert_allclose(sample.gt_instances.bboxes, box[:, :4])


def person_boxes(num_frames: int):
    """A (left, frames 0-3), B (right, frames 2-6), C (left again, frames 5-6: after A has gone)."""
    a, b, c = [4, 40, 60, 200, 0.9], [120, 40, 180, 200, 0.8], [8, 44, 64, 204, 0.95]
    per_frame = []
    for k in range(num_frames):
        boxes = ([a] if k <= 3 else []) + ([b] if k >= 2 else []) + ([c] if k >= 5 else [])
        per_frame.append(np.array(boxes, np.float32).reshape(-1, 5))
    return per_frame


def test_people_are_batched_per_frame_tracked_and_windowed(inferencer, videos, monkeypatch):
    frames = videos.index_frames(7, size=(256, 192))
    batches = []
    test_step = inferencer.model.test_step

    def record(data):
        batches.append([videos.frame_index(f) for clip in data['inputs'] for f in clip.numpy()])
        return test_step(data)

    monkeypatch.setattr(inferencer.model, 'test_step', record)
    results = list(inferencer(frames, bboxes=person_boxes(7), bbox_thr=0.5))
    assert len(results) == 7
    # one forward per frame with people, all of its people in it; each clip is its key frame's window
    people = [1, 1, 2, 2, 1, 2, 2]
    assert [len(b) // 5 for b in batches] == people
    for k, batch in enumerate(batches):
        assert batch == support_frame_indices(k, 7, 2) * people[k]
    track_ids = [[p['track_id'] for p in r['predictions'][0]] for r in results]
    # A -> 0, B -> 1 (kept across A leaving), C appears where A was but after a frame without A: new id 2
    assert track_ids == [[0], [0], [0, 1], [0, 1], [1], [2, 1], [2, 1]]
    first = results[2]['predictions'][0][0]
    assert set(first) >= {'keypoints', 'keypoint_scores', 'bbox', 'bbox_score', 'keypoint_spread', 'track_id', 'score'}
    assert np.shape(first['keypoints']) == (17, 2) and np.shape(first['keypoint_spread']) == (17, )
    np.testing.assert_allclose(first['bbox'][0], [4, 40, 60, 200])
    # boxes below bbox_thr are dropped (B scores 0.8); a frame without boxes keeps the tracks, so C, in A's
    # place after the empty frame 4, continues A's track
    low = list(inferencer(frames, bboxes=person_boxes(7), bbox_thr=0.85))
    assert [[p['track_id'] for p in r['predictions'][0]] for r in low] == [[0]] * 4 + [[]] + [[0]] * 2


def test_real_clip_with_a_detector_writes_video_and_posetrack_json(videos, tmp_path):
    """Plumbing on the real clip: mmdet boxes (a random RTMDet-tiny), tracks, windows, the annotated mp4 and the
    PoseTrack18 file line up with the video's 5 frames."""
    torch.manual_seed(0)
    inferencer = VideoPoseInferencer(tiny_config(), device='cpu', det_model=videos.rtmdet_config(),
                                     det_cat_ids=list(range(80)), show_progress=True)
    videos.confident(inferencer.detector)
    results = list(inferencer(str(videos.real_clip), out_dir=str(tmp_path), bbox_thr=0., kpt_thr=0.))
    assert len(results) == 5
    frames = VideoFrames(str(videos.real_clip))
    detected = [inferencer.detector(frames[k], 0., 0.3) for k in range(5)]
    for k, result in enumerate(results):
        people = result['predictions'][0]
        assert 1 <= len(people) <= 2
        boxes = np.array([p['bbox'][0] for p in people])
        assert all(np.abs(detected[k][:, :4] - b).sum(1).min() < 1e-3 for b in boxes)  # the detector's boxes
    video = mmcv.VideoReader(str(tmp_path / 'visualizations' / 'demo.mp4'))
    assert len(video) == 5 and (video.width, video.height) == (960, 540) and video.fps == 5.
    pred = json.loads((tmp_path / 'predictions' / 'demo.json').read_text())
    assert inferencer.prediction_file == str(tmp_path / 'predictions' / 'demo.json')
    assert [img['id'] for img in pred['images']] == [posetrack_image_id(0, k) for k in range(5)]
    assert [img['file_name'] for img in pred['images']] == [f'demo/{k:06d}.jpg' for k in range(5)]
    per_image = [[a for a in pred['annotations'] if a['image_id'] == img['id']] for img in pred['images']]
    for result, anns in zip(results, per_image):
        assert [a['track_id'] for a in anns] == [p['track_id'] for p in result['predictions'][0]]
        for ann, person in zip(anns, result['predictions'][0]):
            kpts = np.array(ann['keypoints']).reshape(17, 3)
            np.testing.assert_allclose(kpts[:, :2], person['keypoints'], rtol=1e-6)
            np.testing.assert_allclose(ann['scores'], person['keypoint_scores'], rtol=1e-6)
    assert pred['categories'][0]['name'] == 'person' and len(pred['categories'][0]['keypoints']) == 17


def test_bad_inputs_name_the_file_field_or_option(inferencer, tmp_path, videos, frame_folder):
    with pytest.raises(
            ValueError, match=r"coco-256x192.py: model.type is 'TopdownPoseEstimator'; "
            'VideoPoseInferencer needs a video model'):
        load_video_pose_config(str(REPO / 'configs/diffpose/td-diffpose_res50-d16_8xb64-210e_coco-256x192.py'))
    cfg = tiny_config()
    cfg.test_dataloader.dataset.num_adjacent = 1
    with pytest.raises(ValueError, match=r'test_dataloader.dataset.num_adjacent=1 gives 3 frames, but '
                       r'model.neck.num_frames=5'):
        load_video_pose_config(cfg)
    cfg = tiny_config()
    cfg.test_dataloader.dataset.pipeline = cfg.test_dataloader.dataset.pipeline[1:]
    with pytest.raises(ValueError, match='test_dataloader.dataset.pipeline must start with LoadVideoFrames'):
        load_video_pose_config(cfg)
    with pytest.raises(FileNotFoundError, match='config .*nope.py does not exist'):
        VideoPoseInferencer(str(tmp_path / 'nope.py'))
    with pytest.raises(FileNotFoundError, match='checkpoint .*nope.pth does not exist'):
        VideoPoseInferencer(tiny_config(), str(tmp_path / 'nope.pth'))
    with pytest.raises(ValueError, match='either det_model .* or bbox_file'):
        VideoPoseInferencer(tiny_config(), det_model='x.py', bbox_file='y.json')
    # unreadable and empty videos
    (tmp_path / 'text.mp4').write_text('not a video')
    with pytest.raises(ValueError, match='cannot read video file .*text.mp4'):
        list(inferencer(str(tmp_path / 'text.mp4'), bboxes=[]))
    (tmp_path / 'empty.mp4').write_bytes(b'')
    with pytest.raises(ValueError, match='video file .*empty.mp4 is empty'):
        list(inferencer(str(tmp_path / 'empty.mp4'), bboxes=[]))
    with pytest.raises(ValueError, match='needs person boxes: det_model=.*bbox_file=.*bboxes='):
        list(inferencer(str(frame_folder)))
    with pytest.raises(ValueError, match='bboxes: 2 frames of boxes for the 7 frames of video 000007_demo'):
        list(inferencer(str(frame_folder), bboxes=[np.zeros((0, 4))] * 2))
    # a detection file of other frames
    dets = tmp_path / 'dets.json'
    dets.write_text(json.dumps([dict(image_id=posetrack_image_id(8, 0), bbox=[0, 0, 5, 5], score=1.)]))
    with_file = VideoPoseInferencer(tiny_config(), device='cpu', bbox_file=str(dets))
    with pytest.raises(ValueError, match=r'dets.json: none of its detections is on a frame of video 000007_demo'):
        list(with_file(str(frame_folder)))


def test_prediction_files_score_the_ap_of_tools_test_on_the_same_boxes(synthetic_root, tmp_path):
    """On generated videos with a briefly trained tiny model, the inferencer's PoseTrack files (per video, from
    the detection file) give the AP that ``tools/test.py`` gives, and the same people.

    The sampling noise is switched off (the noisy heatmap's embedding zeroed after training) so that the batch
    layouts of the two paths (16 people of any frames vs the people of one frame) cannot move the decoded
    keypoints: what is compared is the plumbing (boxes, clips, crops, scores, NMS, files). With the noise the two
    differ by sampling only (0.08 AP on the full synthetic val set, docs/inference.md)."""
    from diffpose_mm.engine.checkpoint import load_checkpoint_file
    from diffpose_mm.engine.launch import run_mmpose_tool
    from diffpose_mm.evaluation.functional import evaluate_posetrack_dir, load_posetrack_file
    root = f'{synthetic_root}/'
    cfg = tiny_config()
    cfg.train_dataloader.update(batch_size=8, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.data_root = root
    for loader in ('val_dataloader', 'test_dataloader'):
        cfg[loader].update(num_workers=0, persistent_workers=False)
        cfg[loader].dataset.update(data_root=root, bbox_file=root + 'annotations/posetrack18_val_human_detections.json')
    for evaluator in ('val_evaluator', 'test_evaluator'):
        cfg[evaluator].ann_file = root + 'annotations/posetrack18_val.json'
    cfg.test_evaluator.outfile_prefix = str(tmp_path / 'test_py' / 'results')
    cfg.train_cfg = dict(by_epoch=True, max_epochs=3, val_interval=100)
    cfg.param_scheduler = [dict(type='LinearLR', end=5, start_factor=0.1, by_epoch=False)]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=3, save_best=None)
    cfg.dump(str(tmp_path / 'tiny.py'))
    run_mmpose_tool('train', [str(tmp_path / 'tiny.py'), '--work-dir', str(tmp_path / 'work')])
    ckpt = load_checkpoint_file(str(tmp_path / 'work' / 'epoch_3.pth'))
    ckpt['state_dict']['head.heatmap_embed.weight'].zero_()  # x0 no longer depends on the noise
    torch.save(ckpt, str(tmp_path / 'denoised.pth'))

    run_mmpose_tool('test',
                    [str(tmp_path / 'tiny.py'),
                     str(tmp_path / 'denoised.pth'), '--work-dir',
                     str(tmp_path / 'work')])
    inferencer = VideoPoseInferencer(
        str(tmp_path / 'tiny.py'), str(tmp_path / 'denoised.pth'), device='cpu',
        bbox_file=root + 'annotations/posetrack18_val_human_detections.json')
    videos = sorted(p.name for p in (synthetic_root / 'images' / 'val').iterdir())
    for video in videos:
        list(inferencer(root + f'images/val/{video}', pred_out_dir=str(tmp_path / 'inferencer')))  # bbox_thr 0.4

    gt_dir = root + 'annotations/val'
    ap_test = evaluate_posetrack_dir(gt_dir, str(tmp_path / 'test_py' / 'results.posetrack'))
    ap_inferencer = evaluate_posetrack_dir(gt_dir, str(tmp_path / 'inferencer'))
    assert 5 < ap_test['Total'] < 95  # trained a little: neither chance nor perfect
    assert abs(ap_inferencer['Total'] - ap_test['Total']) < 0.5
    for key in ap_test:
        assert ap_inferencer[key] == pytest.approx(ap_test[key], abs=1e-6, nan_ok=True)
    # the same people with the same keypoints and scores on every labelled frame
    for video in videos:
        ours = load_posetrack_file(str(tmp_path / 'inferencer' / f'{video}.json'), is_gt=False)
        theirs = load_posetrack_file(str(tmp_path / 'test_py' / 'results.posetrack' / f'{video}.json'), is_gt=False)
        assert len(ours) == len(theirs) == 25
        for a, b in zip(ours, theirs):
            order_a, order_b = np.argsort(a['keypoints'][:, 0, 0]), np.argsort(b['keypoints'][:, 0, 0])
            np.testing.assert_allclose(a['keypoints'][order_a], b['keypoints'][order_b], atol=1e-3)
            np.testing.assert_allclose(a['keypoint_scores'][order_a], b['keypoint_scores'][order_b], atol=1e-5)
