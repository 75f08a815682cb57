"""PoseTrack per-joint AP (poseval protocol, no poseval needed) plus COCO keypoint AP in one metric."""
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.logging import MMLogger
from mmpose.evaluation.metrics import CocoMetric
from mmpose.registry import METRICS

from ...datasets.posetrack_format import POSETRACK18_KEYPOINTS, frame_key
from ..functional import (evaluate_posetrack_dir, format_posetrack_table, list_posetrack_files, posetrack_frame_index,
                          write_posetrack_predictions)


@METRICS.register_module()
class PoseTrackMetric(CocoMetric):
    """PoseTrack per-joint AP (the official ``poseval`` protocol) and COCO keypoint AP, without poseval.

    Predictions are grouped per image, re-scored and OKS-NMS'ed exactly as in MMPose's
    :class:`CocoMetric` / ``PoseTrack18Metric``, then

    - written as one PoseTrack18-layout file per GT video file (every GT frame, empty where nothing was
      predicted) into ``{outfile_prefix}.posetrack/`` and evaluated with
      :func:`~diffpose_mm.evaluation.functional.evaluate_posetrack_dir` (what
      ``tools/analysis/eval_posetrack.py`` computes from the same files). The table
      ``Head Shoulder Elbow Wrist Hip Knee Ankle Total`` is logged; keys ``posetrack/Head`` ...
      ``posetrack/Total`` (``Total`` = mean of the 15 joint APs);
    - written as COCO results ``{outfile_prefix}.keypoints.json`` and evaluated with xtcocotools against
      ``ann_file``; keys ``coco/AP``, ``coco/AP .5``, ... as MMPose's ``CocoMetric``.

    The keys carry their own prefixes; a ``prefix`` argument is put in front of them
    (``prefix='pt18'`` -> ``pt18/posetrack/Total``).

    Predictions are matched to GT frames by ``img_id``; a prediction whose ``img_id`` is not an image id of
    the GT files is matched by its ``img_path`` (``.../<split>/<video>/<frame>.jpg``), which is logged.

    Args:
        ann_file (str, optional): COCO-style annotation file (e.g. ``posetrack18_val.json``) for COCO AP.
            If None, the COCO GT is built from the data samples' ``raw_ann_info`` as in CocoMetric.
        gt_dir (str, optional): folder of the official per-video GT files. Defaults to MMPose's rule
            ``xxx/posetrack18_val.json -> xxx/val/``.
        joint_score_mode (str): the score that ranks a joint in the PoseTrack AP:

            - ``'keypoint'``: the raw keypoint score (heatmap maximum), as MMPose's PoseTrack18Metric;
            - ``'keypoint_bbox'``: keypoint score x person box score, as DCPose and its successors.

            Defaults to ``'keypoint'``.
        use_area (bool): COCO AP only; PoseTrack GT has no ``area``, so OKS uses
            ``0.53 * bbox area`` (xtcocotools' rule). Defaults to False.
        score_mode (str): instance score for OKS-NMS and COCO AP, see :class:`CocoMetric`.
            Defaults to ``'bbox_keypoint'``.
        keypoint_score_thr (float): keypoints above it enter the ``'bbox_keypoint'`` instance score.
            Defaults to 0.2.
        nms_mode (str): ``'oks_nms'``, ``'soft_oks_nms'`` or ``'none'``. Defaults to ``'oks_nms'``.
        nms_thr (float): OKS-NMS threshold. Defaults to 0.9.
        format_only (bool): only write the prediction files (needs ``outfile_prefix``).
            Defaults to False.
        outfile_prefix (str, optional): ``'a/b/results'`` writes ``a/b/results.keypoints.json`` and
            ``a/b/results.posetrack/<video>.json``. Defaults to a temporary folder.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): put in front of all keys. Defaults to None.
    """
    # the keys are 'posetrack/...' and 'coco/...'; '' (not None) keeps mmengine from adding a prefix
    default_prefix: Optional[str] = ''
    joint_score_modes = ('keypoint', 'keypoint_bbox')

    def __init__(self, ann_file: Optional[str] = None, gt_dir: Optional[str] = None, joint_score_mode: str = 'keypoint',
                 use_area: bool = False, score_mode: str = 'bbox_keypoint', keypoint_score_thr: float = 0.2,
                 nms_mode: str = 'oks_nms', nms_thr: float = 0.9, format_only: bool = False,
                 outfile_prefix: Optional[str] = None, collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        if joint_score_mode not in self.joint_score_modes:
            raise ValueError(f'joint_score_mode must be one of {self.joint_score_modes}, '
                             f'got {joint_score_mode!r}')
        if gt_dir is None:
            if ann_file is None:
                raise ValueError('PoseTrackMetric needs gt_dir (the per-video GT files) or ann_file '
                                 '(xxx/posetrack18_val.json -> gt_dir xxx/val/)')
            split = osp.splitext(osp.basename(ann_file))[0].split('_')[-1]
            gt_dir = osp.join(osp.dirname(ann_file), split)
            if not osp.isdir(gt_dir):  # fail now rather than after a whole test epoch
                raise FileNotFoundError(
                    f'PoseTrackMetric: the per-video GT folder {gt_dir}, derived from ann_file={ann_file} '
                    f'(xxx/<name>_{split}.json -> xxx/{split}/), does not exist; set gt_dir=')
        list_posetrack_files(gt_dir)  # fail now rather than after a whole test epoch
        super().__init__(ann_file=ann_file, use_area=use_area, score_mode=score_mode,
                         keypoint_score_thr=keypoint_score_thr, nms_mode=nms_mode, nms_thr=nms_thr,
                         format_only=format_only, outfile_prefix=outfile_prefix, collect_device=collect_device,
                         prefix=prefix)
        self.gt_dir = gt_dir
        self.joint_score_mode = joint_score_mode

    def process(self, data_batch: Sequence[dict], data_samples: Sequence[dict]) -> None:
        """Store the predictions as :class:`CocoMetric` does, plus the key-frame ``img_path``."""
        super().process(data_batch, data_samples)
        for (pred, _), data_sample in zip(self.results[-len(data_samples):], data_samples):
            img_path = data_sample.get('img_path', '')
            # MMPose's PoseTrack18VideoDataset gives [key frame, supporting frames...]
            pred['img_path'] = img_path[0] if isinstance(img_path, (list, tuple)) else img_path

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Match predictions to GT frames, then evaluate as :class:`CocoMetric` (which calls
        :meth:`results2json` and :meth:`_do_python_keypoint_eval`)."""
        return super().compute_metrics(self._match_gt_frames(results))

    def _match_gt_frames(self, results: list) -> list:
        """Rewrite ``img_id`` of predictions whose id is unknown to the GT files, by file name."""
        logger = MMLogger.get_current_instance()
        key2id = posetrack_frame_index(self.gt_dir)
        gt_ids = set(key2id.values())
        matched, by_name, unmatched = [], 0, set()
        for pred, gt in results:
            if pred['img_id'] not in gt_ids:
                img_id = key2id.get(frame_key(pred.get('img_path') or ''))
                if img_id is None:
                    unmatched.add(pred['img_id'])
                    continue
                pred['img_id'] = img_id
                if 'img_id' in gt:
                    gt['img_id'] = img_id
                by_name += 1
            matched.append((pred, gt))
        if by_name:
            logger.warning(f'PoseTrackMetric: {by_name} predictions have an img_id that is not an image '
                           f'id of the GT files in {self.gt_dir}; matched them by file name instead')
        if unmatched:
            logger.warning(f'PoseTrackMetric: dropped the predictions of {len(unmatched)} images whose '
                           f'img_id and img_path match no frame of the GT files in {self.gt_dir}, '
                           f'e.g. img_id={next(iter(unmatched))}')
        if not matched:
            raise ValueError(f'PoseTrackMetric: no prediction matches a frame of the GT files in '
                             f'{self.gt_dir}')
        return matched

    def results2json(self, keypoints: Dict[int, list], outfile_prefix: str) -> str:
        """Write the COCO results file and the per-video PoseTrack prediction files.

        Args:
            keypoints (dict): image id -> instances after NMS, each with ``keypoints`` (K, 3) (x, y,
                keypoint score), ``keypoint_scores`` (K,), ``bbox_score`` and ``score``.
            outfile_prefix (str): see the class docstring.

        Returns:
            str: the folder of the PoseTrack prediction files.
        """
        super().results2json(keypoints, outfile_prefix)
        preds = {}
        for img_id, instances in keypoints.items():
            preds[img_id] = []
            for inst in instances:
                scores = np.asarray(inst['keypoint_scores'], dtype=np.float64)
                if self.joint_score_mode == 'keypoint_bbox':
                    scores = scores * float(inst['bbox_score'])
                preds[img_id].append(
                    dict(keypoints=inst['keypoints'][:, :2], keypoint_scores=inst['keypoint_scores'], scores=scores,
                         score=inst['score']))
        names = self.dataset_meta.get('keypoint_id2name') if self.dataset_meta else None
        names = [names[i] for i in range(len(names))] if names else POSETRACK18_KEYPOINTS
        pred_dir = f'{outfile_prefix}.posetrack'
        write_posetrack_predictions(self.gt_dir, pred_dir, preds, names)
        MMLogger.get_current_instance().info(f'PoseTrack prediction files are in {pred_dir}')
        return pred_dir

    def _do_python_keypoint_eval(self, outfile_prefix: str) -> List[tuple]:
        """COCO AP (xtcocotools, printed by COCOeval) and the PoseTrack AP table (logged).

        Returns:
            list[tuple]: ``('coco/AP', v), ... ('posetrack/Head', v), ... ('posetrack/Total', v)``.
        """
        logger = MMLogger.get_current_instance()
        coco_stats = super()._do_python_keypoint_eval(outfile_prefix)
        summary = evaluate_posetrack_dir(self.gt_dir, f'{outfile_prefix}.posetrack')
        logger.info(f'PoseTrack AP ({self.joint_score_mode} joint scores, GT {self.gt_dir}):\n' +
                    format_posetrack_table(summary))
        return ([(f'coco/{k}', float(v)) for k, v in coco_stats] + [(f'posetrack/{k}', v) for k, v in summary.items()])
