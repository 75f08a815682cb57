"""Video pose inference with a DiffPose video model, in the style of MMPose's ``Pose2DInferencer``."""
import logging
import os.path as osp
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from mmpose.apis.inferencers.base_mmpose_inferencer import BaseMMPoseInferencer
from mmpose.registry import INFERENCERS
from mmpose.structures import PoseDataSample, merge_data_samples

from ...datasets.posetrack_video_dataset import support_frame_indices
from ...engine.checkpoint import mmengine_checkpoint_globals
from ..person_boxes import DetectionFileBoxes, MMDetPersonDetector
from ..person_tracks import IoUPersonTracker
from ..posetrack_predictions import instance_scores, oks_suppress, write_video_predictions
from ..video_frames import VideoFrames, VideoSource

VIDEO_MODEL = 'VideoTopdownPoseEstimator'


def load_video_pose_config(model: Union[str, Config, ConfigDict]) -> Config:
    """The config of a video pose model, checked to be one.

    Raises:
        FileNotFoundError: the config file does not exist.
        ValueError: naming the config and the field when ``model.type`` is not ``VideoTopdownPoseEstimator``, the
            test pipeline does not load clips with ``LoadVideoFrames``, ``model.neck.num_frames`` is not odd, or
            it disagrees with ``test_dataloader.dataset.num_adjacent``.
    """
    if isinstance(model, str):
        if not osp.isfile(model):
            raise FileNotFoundError(f'config {model} does not exist')
        name, cfg = model, Config.fromfile(model)
    else:
        name, cfg = getattr(model, 'filename', None) or '<config>', Config(model) if isinstance(
            model, ConfigDict) else model.copy()
    model_type = cfg.get('model', {}).get('type')
    if model_type != VIDEO_MODEL:
        raise ValueError(f'{name}: model.type is {model_type!r}; VideoPoseInferencer needs a video model '
                         f'(model.type={VIDEO_MODEL!r} with a temporal neck such as STRLNeck), e.g. '
                         'configs/diffpose/td-diffpose_res18-tiny_1xb16-18e_synthetic-128x96.py; for single images '
                         "use MMPose's Pose2DInferencer")
    pipeline = cfg.get('test_dataloader', {}).get('dataset', {}).get('pipeline', [])
    if not pipeline or pipeline[0].get('type') != 'LoadVideoFrames':
        raise ValueError(f'{name}: test_dataloader.dataset.pipeline must start with LoadVideoFrames (it loads the '
                         f'2δ+1 frames of a clip), got {[t.get("type") for t in pipeline]}')
    num_frames = cfg.model.get('neck', {}).get('num_frames', 1)
    if num_frames % 2 != 1:
        raise ValueError(f'{name}: model.neck.num_frames must be odd (2δ+1 frames around the key frame), got '
                         f'{num_frames}')
    num_adjacent = cfg.test_dataloader.dataset.get('num_adjacent', num_frames // 2)
    if 2 * num_adjacent + 1 != num_frames:
        raise ValueError(f'{name}: test_dataloader.dataset.num_adjacent={num_adjacent} gives '
                         f'{2 * num_adjacent + 1} frames, but model.neck.num_frames={num_frames}')
    return cfg


class _KeyFrames(Iterable):
    """The per-key-frame batches of one video, with a length (so MMPose's progress bar shows a total)."""

    def __init__(self, batches: Iterator, num_frames: int) -> None:
        self._batches, self._len = batches, num_frames

    def __iter__(self) -> Iterator:
        return self._batches

    def __len__(self) -> int:
        return self._len


@INFERENCERS.register_module(name='video-pose-estimation')
@INFERENCERS.register_module()
class VideoPoseInferencer(BaseMMPoseInferencer):
    """Top-down video pose estimation with a DiffPose video model (``VideoTopdownPoseEstimator``), built on
    MMPose's inferencer base, visualiser and result formats.

    For one video per call (a video file, a folder of frames or a list of frames, see :class:`VideoFrames`):

    1. person boxes of every frame come from an mmdet detector (``det_model``, ``det_weights``) or from a
       PoseTrack detection file (``bbox_file``, the format of ``tools/misc/generate_person_boxes.py`` and
       ``PoseTrackVideoDataset(bbox_file=...)``), or are given per call (``bboxes``);
    2. :class:`IoUPersonTracker` (MMPose's ``_track_by_iou``) links them into tracks;
    3. every person of a key frame ``k`` gets the clip of frames ``k-δ .. k+δ``, clamped at the video borders
       exactly as in training (:func:`diffpose_mm.datasets.support_frame_indices`), cropped with its key-frame box
       by the config's test pipeline; all people of a frame go through the model in one batch;
    4. people are scored and OKS-NMS'ed as ``PoseTrackMetric`` does (box score x mean keypoint score > 0.2,
       ``pose_nms_thr`` 0.9), so the prediction file scores the AP ``tools/test.py`` gives on the same boxes.

    Outputs: MMPose's per-frame results (``predictions``: ``keypoints``, ``keypoint_scores``, ``bbox``,
    ``bbox_score`` per person, plus ``keypoint_spread``, ``track_id`` and ``score``); with ``vis_out_dir`` an
    annotated ``<video>.mp4`` (:class:`UncertaintyPoseVisualizer`: spread rings, score fading, legend,
    ``show_uncertainty=False`` to switch off); with ``pred_out_dir`` a PoseTrack18 prediction file
    ``<video>.json`` (one image per frame) that ``tools/analysis/eval_posetrack.py`` reads.

    Args:
        model (str | Config): Config of a video model (checked by :func:`load_video_pose_config`).
        weights (str, optional): Checkpoint, loaded with ``weights_only=True`` and MMEngine's allowlist.
        device (str, optional): Device. Defaults to mmengine's choice.
        scope (str): Registry scope. Defaults to ``'mmpose'``.
        det_model (str | Config, optional): mmdet config, ``mmdet::`` name or loaded config.
        det_weights (str, optional): Detector checkpoint.
        det_cat_ids (int | Sequence[int]): Detector labels that are people. Defaults to 0 (COCO).
        bbox_file (str, optional): PoseTrack detection file, instead of a detector.
        tracking_thr (float): IoU to continue a track. Defaults to 0.3.
        fps (float, optional): Frame rate of the annotated video of a frame folder or list (default 25; video
            files keep theirs).
        show_progress (bool): Show a progress bar over the frames. Defaults to False.
    """

    preprocess_kwargs: set = {'bbox_thr', 'nms_thr', 'bboxes'}
    forward_kwargs: set = {'pose_nms_thr'}
    visualize_kwargs: set = {
        'return_vis', 'show', 'wait_time', 'draw_bbox', 'radius', 'thickness', 'kpt_thr', 'vis_out_dir',
        'skeleton_style', 'black_background', 'show_uncertainty'
    }
    postprocess_kwargs: set = {'pred_out_dir', 'return_datasample'}

    def __init__(self, model: Union[str, Config, ConfigDict], weights: Optional[str] = None,
                 device: Optional[str] = None, scope: Optional[str] = 'mmpose',
                 det_model: Optional[Union[str, Config]] = None, det_weights: Optional[str] = None,
                 det_cat_ids: Union[int, Sequence[int]] = 0, bbox_file: Optional[str] = None, tracking_thr: float = 0.3,
                 fps: Optional[float] = None, show_progress: bool = False) -> None:
        if det_model is not None and bbox_file is not None:
            raise ValueError('VideoPoseInferencer: give either det_model (a detector) or bbox_file (a detection '
                             'file), not both')
        if weights is not None and not osp.isfile(weights):
            raise FileNotFoundError(f'checkpoint {weights} does not exist')
        init_default_scope(scope)
        cfg = load_video_pose_config(model)
        # MMPose's visualiser, extended with the uncertainty drawing (registered in MMPose's VISUALIZERS)
        cfg.visualizer = dict(cfg.get('visualizer', {}), type='UncertaintyPoseVisualizer')
        with mmengine_checkpoint_globals(weights or ''):  # torch.load(weights_only=True) of MMEngine checkpoints
            super().__init__(model=cfg, weights=weights, device=device, scope=scope, show_progress=show_progress)
        self.model = revert_sync_batchnorm(self.model)
        self.visualizer.set_dataset_meta(self.model.dataset_meta)
        self.num_adjacent = cfg.model.get('neck', {}).get('num_frames', 1) // 2
        self.detector = MMDetPersonDetector(det_model, det_weights, device, det_cat_ids) \
            if det_model is not None else None
        self.detection_file = DetectionFileBoxes(bbox_file) if bbox_file is not None else None
        self.tracking_thr = tracking_thr
        self.fps = fps
        # the dataset's threshold for detection boxes (PoseTrack configs: 0.4), else MMPose's 0.3
        self.default_bbox_thr = cfg.test_dataloader.dataset.get('filter_cfg', {}).get('bbox_score_thr', 0.3)
        self._video_input = False
        self.frames: Optional[VideoFrames] = None
        self.prediction_file: Optional[str] = None

    # ------------------------------------------------------------------ inputs: one video per call
    def _inputs_to_list(self, inputs: VideoSource) -> VideoFrames:
        """The video of ``inputs``; MMPose's video bookkeeping (``video_info``: the mp4 writer) for every input
        kind, since a folder or a list of frames is a video here too."""
        self.frames = VideoFrames(inputs, fps=self.fps)
        frame = self.frames[0]
        self._video_input = True
        self.video_info = dict(fps=self.frames.fps, name=f'{self.frames.name}.mp4', writer=None, width=frame.shape[1],
                               height=frame.shape[0], predictions=[])
        self._people: List[List[dict]] = []
        self.prediction_file = None
        return self.frames

    def preprocess(self, inputs: VideoFrames, batch_size: int = 1, bbox_thr: Optional[float] = None,
                   nms_thr: float = 0.3, bboxes: Optional[Sequence[np.ndarray]] = None, **kwargs) -> _KeyFrames:
        """Per key frame: the people's clips through the test pipeline, collated into one batch.

        Args:
            inputs (VideoFrames): The video.
            batch_size (int): Unused: all people of a key frame form one batch.
            bbox_thr (float, optional): Keep boxes scoring at least this. Defaults to the config's
                ``test_dataloader.dataset.filter_cfg.bbox_score_thr``, else 0.3.
            nms_thr (float): IoU of MMPose's box NMS on the detector's boxes. Defaults to 0.3.
            bboxes (Sequence[np.ndarray], optional): Boxes per frame, ``(n, 4)`` ``xyxy`` or ``(n, 5)`` with
                scores, instead of the detector / detection file.

        Yields:
            tuple: ``(dict(data, frame_index, track_ids), [key frame])``; ``data`` is None on a frame without
            people.
        """
        frames = inputs
        thr = self.default_bbox_thr if bbox_thr is None else bbox_thr
        if bboxes is not None:
            if len(bboxes) != len(frames):
                raise ValueError(f'bboxes: {len(bboxes)} frames of boxes for the {len(frames)} frames of video '
                                 f'{frames.name}')
            boxes_per_frame = [_with_scores(np.asarray(b, dtype=np.float32)) for b in bboxes]
        elif self.detection_file is not None:
            boxes_per_frame = self.detection_file.boxes_for(frames)
        elif self.detector is None:
            raise ValueError('VideoPoseInferencer needs person boxes: det_model=... (an mmdet detector), '
                             'bbox_file=... (a PoseTrack detection file) or bboxes=... (boxes per frame)')
        else:
            boxes_per_frame = None  # detected frame by frame

        def key_frames() -> Iterator[Tuple[dict, list]]:
            tracker = IoUPersonTracker(self.tracking_thr)
            for k in range(len(frames)):
                if boxes_per_frame is None:
                    boxes = self.detector(frames[k], thr, nms_thr)
                else:
                    boxes = boxes_per_frame[k]
                    boxes = boxes[boxes[:, 4] >= thr]
                track_ids = tracker.update(boxes)
                yield self.key_frame_batch(frames, k, boxes, track_ids), [frames[k]]

        return _KeyFrames(key_frames(), len(frames))

    def key_frame_batch(self, frames: VideoFrames, key_index: int, boxes: np.ndarray, track_ids: np.ndarray) -> dict:
        """The batch of key frame ``key_index``: per person (box ``(5,)``), the clip of frames
        :func:`support_frame_indices` ``(key_index, len(frames), δ)`` through the test pipeline (the same crop
        of the key-frame box on every frame, as in training); collated, with the frame index and track ids."""
        window = support_frame_indices(key_index, len(frames), self.num_adjacent)
        clip = [frames[i] for i in window]
        samples = []
        for person, box in enumerate(boxes):
            info = dict(
                img=list(clip), img_path=frames.frame_path(key_index),
                frame_paths=[frames.frame_path(i) for i in window], img_id=key_index, id=person,
                bbox=box[None, :4].astype(np.float32), bbox_score=box[4:5].astype(np.float32), category_id=1)
            info.update(self.model.dataset_meta)
            samples.append(self.pipeline(info))
        return dict(
            data=self.collate_fn(samples) if samples else None, frame_index=key_index, frame_indices=window,
            track_ids=np.asarray(track_ids, dtype=np.int64))

    # ------------------------------------------------------------------ model
    @torch.no_grad()
    def forward(self, inputs: dict, pose_nms_thr: float = 0.9) -> List[PoseDataSample]:
        """One merged :class:`PoseDataSample` for the key frame: ``pred_instances`` with ``keypoints (n, K, 2)``,
        ``keypoint_scores``, ``keypoint_spread (n, K)``, ``bboxes``, ``bbox_scores``, ``track_ids`` and ``scores``
        (the metric's instance score), after OKS-NMS at ``pose_nms_thr`` (``None``: none)."""
        k = inputs['frame_index']
        meta = dict(
            img_path=self.frames.frame_path(k), img_id=k, frame_index=k, frame_indices=inputs['frame_indices'],
            ori_shape=self.frames[k].shape[:2])
        if inputs['data'] is None:
            merged = PoseDataSample(metainfo=meta)
            num_kpts = self.model.dataset_meta['num_keypoints']
            merged.pred_instances = InstanceData(
                keypoints=np.zeros((0, num_kpts, 2), np.float32), keypoint_scores=np.zeros(
                    (0, num_kpts)), keypoint_spread=np.zeros((0, num_kpts)), bboxes=np.zeros((0, 4)),
                bbox_scores=np.zeros(0), track_ids=np.zeros(0, np.int64), scores=np.zeros(0))
            return [merged]
        merged = merge_data_samples(self.model.test_step(inputs['data']))
        merged.set_metainfo(meta)
        pred = merged.pred_instances
        pred.track_ids = inputs['track_ids']
        pred.scores = instance_scores(pred.keypoint_scores, pred.bbox_scores)
        if pose_nms_thr is not None:
            areas = np.prod(merged.gt_instances.bbox_scales, axis=1)  # what PoseTrackMetric's OKS uses
            keep = oks_suppress(pred.keypoints, pred.keypoint_scores, pred.scores, areas,
                                self.model.dataset_meta['sigmas'], pose_nms_thr)
            merged.pred_instances = pred[keep]
        return [merged]

    # ------------------------------------------------------------------ outputs
    def visualize(self, inputs: list, preds: List[PoseDataSample], show_uncertainty: bool = True,
                  **kwargs) -> List[np.ndarray]:
        """MMPose's visualisation (``vis_out_dir`` -> ``<video>.mp4``) with :class:`UncertaintyPoseVisualizer`;
        ``show_uncertainty=False`` draws MMPose's plain skeletons."""
        self.visualizer.show_uncertainty = show_uncertainty
        return super().visualize(inputs, preds, **kwargs)

    def postprocess(self, preds: List[PoseDataSample], visualization: List[np.ndarray], return_datasample=None,
                    return_datasamples: bool = False, pred_out_dir: str = '') -> dict:
        """MMPose's result dict; each person also carries ``keypoint_spread``, ``track_id`` and ``score``. The
        people are kept for the PoseTrack prediction file written when the video ends."""
        results = super().postprocess(preds, visualization, return_datasample, return_datasamples, '')
        for pred in preds:
            inst = pred.pred_instances
            people = [
                dict(keypoints=inst.keypoints[i], keypoint_scores=inst.keypoint_scores[i],
                     keypoint_spread=inst.keypoint_spread[i], track_id=int(inst.track_ids[i]),
                     score=float(inst.scores[i])) for i in range(len(inst))
            ]
            self._people.append(people)
            if not return_datasamples:
                frame_results = results['predictions'][len(results['predictions']) - len(preds)]
                for result, person in zip(frame_results, people):
                    result.update(keypoint_spread=person['keypoint_spread'].tolist(), track_id=person['track_id'],
                                  score=person['score'])
        return results

    def _finalize_video_processing(self, pred_out_dir: str = '') -> None:
        """Close the annotated video (MMPose) and write ``<pred_out_dir>/<video>.json`` (PoseTrack18 layout)."""
        super()._finalize_video_processing('')
        if pred_out_dir:
            names = self.model.dataset_meta['keypoint_id2name']
            self.prediction_file = write_video_predictions(pred_out_dir, self.frames, self._people,
                                                           [names[i] for i in range(len(names))])
            print_log(f'the PoseTrack predictions have been saved at {self.prediction_file}', logger='current',
                      level=logging.INFO)


def _with_scores(boxes: np.ndarray) -> np.ndarray:
    """``(n, 4)`` boxes with score 1 appended, ``(n, 5)`` unchanged."""
    boxes = boxes.reshape(-1, boxes.shape[-1] if boxes.size else 4)
    if boxes.shape[1] == 4:
        boxes = np.concatenate([boxes, np.ones((len(boxes), 1), np.float32)], axis=1)
    if boxes.shape[1] != 5:
        raise ValueError(f'bboxes: boxes must be (n, 4) xyxy or (n, 5) xyxy + score, got shape {boxes.shape}')
    return boxes
