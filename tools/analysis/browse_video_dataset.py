"""Browse a multi-frame (video) pose dataset: one PNG per sample with its frames side by side.

The multi-frame analogue of MMPose's ``tools/misc/browse_dataset.py``. Each PNG shows the ``2δ+1``
frames of one sample in temporal order (left to right), the key frame outlined, the key frame's GT
keypoints and skeleton drawn on the key frame and, faintly, on the other frames (so motion shows as
the offset between the skeleton and the person), plus the max-projection of the key frame's GT
heatmaps as an extra panel when the pipeline produces heatmap targets (``GenerateTarget``).

``--phase pipeline`` (default) runs the config's pipeline, so the frames are shown after the crop /
flip / affine that the pipeline applies to all of them (inputs lower than 256 px are enlarged by an
integer factor so the drawing stays legible); ``--phase original`` only loads the frames
(downscaled to at most 640 px) and also draws the key frame's box. Samples are taken evenly over
the dataset. Samples built from detections (test mode with ``bbox_file``) have no GT keypoints;
only their box is drawn (``original`` phase).

Example::

    python tools/analysis/browse_video_dataset.py \
        configs/diffpose/td-diffpose_res18-tiny_1xb16-18e_synthetic-128x96.py \
        --split train --num 4 --out-dir work_dirs/browse
"""
import argparse
import copy
import inspect
import os
import os.path as osp
from typing import List, Optional, Sequence

import cv2
import mmcv
import numpy as np
import torch
import torch.nn.functional as F
from mmengine import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from mmengine.utils import import_modules_from_strings
from mmpose.datasets.transforms import PackPoseInputs
from mmpose.registry import DATASETS
from mmpose.structures import PoseDataSample
from mmpose.visualization import PoseLocalVisualizer

KEY_COLOR = (255, 215, 0)  # RGB outline of the key frame
FAINT_ALPHA = 0.5  # opacity of the key-frame skeleton drawn on the supporting frames
MAX_ORIGINAL_SIZE = 640  # longest side of a panel in the 'original' phase
MIN_PIPELINE_HEIGHT = 256  # smaller network inputs are enlarged by an integer factor for legibility


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Browse a video pose dataset (one PNG per sample)')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--split', default='train', choices=['train', 'val', 'test'],
                        help='which <split>_dataloader of the config to browse')
    parser.add_argument('--out-dir', default='work_dirs/browse_video_dataset', help='folder the PNGs are written to')
    parser.add_argument('--num', type=int, default=10, help='number of samples, taken evenly over the dataset')
    parser.add_argument(
        '--phase', default='pipeline', choices=['pipeline', 'original'],
        help='"pipeline": frames after the config pipeline (crop/flip/affine); '
        '"original": the frames as loaded from disk, with the box')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help='override settings of the config, xxx=yyy format, e.g. '
        'train_dataloader.dataset.num_adjacent=1')
    args = parser.parse_args(argv)
    if args.num < 1:
        parser.error(f'--num must be >= 1, got {args.num}')
    return args


def build_dataset(cfg: Config, split: str, phase: str, config_path: str = 'config'):
    """Build ``cfg[f'{split}_dataloader'].dataset`` with its pipeline adapted to ``phase``."""
    key = f'{split}_dataloader'
    if not isinstance(cfg.get(key), dict) or 'dataset' not in cfg[key]:
        available = [k for k in cfg.keys() if k.endswith('_dataloader') and cfg[k]]
        raise ValueError(f'{config_path}: no "{key}" with a "dataset" in the config (it has '
                         f'{available or "no dataloader"}); choose another --split')
    dataset_cfg = copy.deepcopy(cfg[key]['dataset'])
    pipeline = list(dataset_cfg.get('pipeline', []))
    if phase == 'original':
        # keep the config's loader (backend_args etc.), drop every transform after it
        loaders = [t for t in pipeline if t.get('type') == 'LoadVideoFrames']
        dataset_cfg['pipeline'] = loaders[:1] or [dict(type='LoadVideoFrames')]
    else:
        if not pipeline or pipeline[-1].get('type') != 'PackPoseInputs':
            raise ValueError(f'{config_path}: the pipeline of {key}.dataset must end with '
                             'PackPoseInputs for --phase pipeline')
        pack = dict(pipeline[-1])
        meta_keys = pack.get('meta_keys', inspect.signature(PackPoseInputs.__init__).parameters['meta_keys'].default)
        # keypoints in input-image coordinates, and the frame names for the panel labels
        pack.update(pack_transformed=True, meta_keys=tuple(meta_keys) + ('frame_paths', ))
        dataset_cfg['pipeline'] = pipeline[:-1] + [pack]
    dataset = DATASETS.build(dataset_cfg)
    if len(dataset) == 0:
        raise ValueError(f'{config_path}: the {key} dataset is empty')
    return dataset


def _as_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _gt_instances(keypoints, visible, has_gt: bool, bboxes=None) -> InstanceData:
    inst = InstanceData()
    inst.keypoints = _as_numpy(keypoints).astype(np.float32)
    visible = _as_numpy(visible)
    if visible.ndim == 3:  # (N, K, 2) visibility with weights in some MMPose versions
        visible = visible[..., 0]
    # detection samples carry dummy keypoints: draw none of them
    inst.keypoints_visible = visible if has_gt else np.zeros_like(visible)
    if bboxes is not None:
        inst.bboxes = _as_numpy(bboxes)
    return inst


def _label(img: np.ndarray, text: str) -> None:
    """Write ``text`` in the top-left corner of ``img`` (in place) on a dark box."""
    scale = max(0.3, min(img.shape[:2]) / 400)
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(img, (0, 0), (w + 4, h + base + 4), (0, 0, 0), -1)
    cv2.putText(img, text, (2, h + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def render_sample(visualizer: PoseLocalVisualizer, frames: List[np.ndarray], key: int, instances: InstanceData,
                  frame_names: Sequence[str], heatmaps: Optional[torch.Tensor] = None,
                  draw_bbox: bool = False) -> np.ndarray:
    """Draw one sample as a row of panels.

    Args:
        visualizer: MMPose visualizer with the dataset meta set (colours, skeleton).
        frames: ``T`` RGB uint8 frames ``(H, W, 3)`` in temporal order.
        key: Index of the key frame in ``frames``.
        instances: The key frame's GT (``keypoints`` (1, K, 2) in frame coordinates,
            ``keypoints_visible`` (1, K), optionally ``bboxes`` (1, 4)).
        frame_names: ``T`` short names (frame file stems) for the panel labels.
        heatmaps: The key frame's GT heatmaps ``(K, h, w)``; adds a last panel with their max
            over ``K`` on top of the key frame. Default: ``None``.
        draw_bbox: Draw ``instances.bboxes`` on the key frame. Default: ``False``.

    Returns:
        np.ndarray: RGB image ``(H, W * (T + [heatmaps is not None]), 3)``.
    """
    sample = PoseDataSample(gt_instances=instances)
    panels = []
    for t, frame in enumerate(frames):
        drawn = visualizer.add_datasample('frame', frame, sample, draw_pred=False, draw_bbox=draw_bbox and t == key)
        if t != key:
            drawn = cv2.addWeighted(frame, 1 - FAINT_ALPHA, drawn, FAINT_ALPHA, 0)
        drawn = np.ascontiguousarray(drawn)
        offset = t - key
        _label(drawn, f'{"t" if offset == 0 else f"t{offset:+d}"} {frame_names[t]}')
        if t == key:
            thickness = max(2, min(drawn.shape[:2]) // 48)
            cv2.rectangle(drawn, (0, 0), (drawn.shape[1] - 1, drawn.shape[0] - 1), KEY_COLOR, thickness)
        panels.append(drawn)
    if heatmaps is not None:
        key_frame = frames[key]
        hm = heatmaps.float().reshape(-1, *heatmaps.shape[-2:]).max(dim=0, keepdim=True)[0]
        hm = F.interpolate(hm[None], size=key_frame.shape[:2], mode='bilinear', align_corners=False)[0]
        panel = np.ascontiguousarray(visualizer.draw_featmap(hm, key_frame))
        _label(panel, 'GT heatmaps (max)')
        panels.append(panel)
    return np.concatenate(panels, axis=1)


def _frame_stems(paths: Optional[Sequence[str]], num: int) -> List[str]:
    if not paths or len(paths) != num:
        return [''] * num
    return [osp.splitext(osp.basename(p))[0] for p in paths]


def pipeline_zoom(height: int) -> int:
    """Integer factor that enlarges a network input of ``height`` to >= MIN_PIPELINE_HEIGHT."""
    return max(1, -(-MIN_PIPELINE_HEIGHT // height))


def _resize(frames: List[np.ndarray], max_size: int):
    h, w = frames[0].shape[:2]
    scale = min(1.0, max_size / max(h, w))
    if scale < 1:
        frames = [mmcv.imrescale(f, scale) for f in frames]
    return frames, scale


def main(argv: Optional[Sequence[str]] = None) -> List[str]:
    """Write the PNGs; returns their paths."""
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if cfg.get('custom_imports'):  # Config.fromfile imported them; --cfg-options may add more
        import_modules_from_strings(**cfg['custom_imports'])
    init_default_scope(cfg.get('default_scope', 'mmpose') or 'mmpose')

    dataset = build_dataset(cfg, args.split, args.phase, args.config)
    visualizer = None
    os.makedirs(args.out_dir, exist_ok=True)
    indices = sorted(set(np.linspace(0, len(dataset) - 1, min(args.num, len(dataset))).round().astype(int).tolist()))
    out_files = []
    for idx in indices:
        item = dataset[idx]
        if args.phase == 'original':
            frames = item['img'] if isinstance(item['img'], list) else [item['img']]
            frames, scale = _resize([mmcv.bgr2rgb(f.astype(np.uint8)) for f in frames], MAX_ORIGINAL_SIZE)
            instances = _gt_instances(item['keypoints'] * scale, item['keypoints_visible'], 'raw_ann_info' in item,
                                      item['bbox'] * scale)
            img_path, frame_paths, heatmaps = item['img_path'], item.get('frame_paths'), None
        else:
            inputs, data_sample = item['inputs'], item['data_samples']
            if inputs.dim() == 3:  # a single-frame pipeline
                inputs = inputs[None]
            frames = [mmcv.bgr2rgb(f.permute(1, 2, 0).clamp(0, 255).to(torch.uint8).numpy()) for f in inputs]
            factor = pipeline_zoom(frames[0].shape[0])
            frames = [cv2.resize(f, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR) for f in frames]
            gt = data_sample.gt_instances
            # keypoints are pixel-centre coordinates: (x + 0.5) * factor - 0.5 after zooming
            keypoints = (_as_numpy(gt.transformed_keypoints) + 0.5) * factor - 0.5
            instances = _gt_instances(keypoints, gt.keypoints_visible, 'raw_ann_info' in data_sample.metainfo)
            img_path = data_sample.metainfo['img_path']
            frame_paths = data_sample.metainfo.get('frame_paths')
            fields = data_sample.get('gt_fields')
            heatmaps = fields.heatmaps if fields is not None and 'heatmaps' in fields else None
        if visualizer is None:
            h, w = frames[0].shape[:2]
            radius = max(2, round(min(h, w) / 50))
            visualizer = PoseLocalVisualizer(name=f'browse_video_dataset_{id(dataset)}', radius=radius,
                                             line_width=max(1, round(radius / 2)))
            visualizer.set_dataset_meta(dataset.metainfo)
        image = render_sample(visualizer, frames,
                              len(frames) // 2, instances, _frame_stems(frame_paths, len(frames)), heatmaps,
                              draw_bbox=args.phase == 'original')
        video = osp.basename(osp.dirname(img_path))
        stem = osp.splitext(osp.basename(img_path))[0]
        out_file = osp.join(args.out_dir, f'{idx:05d}_{video}_{stem}.png')
        mmcv.imwrite(mmcv.rgb2bgr(image), out_file)
        out_files.append(out_file)
    print(f'wrote {len(out_files)} image(s) to {args.out_dir}')
    return out_files


if __name__ == '__main__':
    main()
