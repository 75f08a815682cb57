"""A tiny, deterministic synthetic video pose dataset in the PoseTrack18 layout.

It exists so that the whole video pipeline (dataset -> transforms -> model -> PoseTrack metric)
can be trained and evaluated in minutes on a CPU, and so that tests have real neighbouring frames
(the MMPose PoseTrack18 test fixture has none).

Content: 1-2 articulated stick/limb figures per video (17 PoseTrack18 keypoints, ears unlabelled
as in PoseTrack) moving smoothly on a textured background. Some frames are degraded by a transient
occluder over a few joints (the joints stay labelled) or by motion blur; degraded frames are at
least 3 frames apart, so the supporting frames t-2..t+2 of a degraded key frame are clean and a
multi-frame model can recover what a single-frame model cannot see. A small unannotated bystander
inside an ignore region appears in a few videos.

Layout written under ``out_dir`` (same as MMPose's ``data/posetrack18``)::

    images/{train,val}/<video>/000000.jpg ...
    annotations/posetrack18_{train,val}.json           # merged COCO-style files
    annotations/{train,val}/<video>.json                # official-style per-video GT files
    annotations/posetrack18_val_human_detections.json   # detections (jittered GT + FPs)

Train videos are labelled densely in their centre; val videos every 4th frame (first and last
frame included, so the video borders are exercised). Every image entry also carries an extra field
``degradation`` (``'none'``, ``'blur'``, ``'occlusion'``) so results can be split by it.
"""
import math
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Set, Tuple

import cv2
import numpy as np

from ..datasets.posetrack_format import (NUM_KEYPOINTS, PERSON_CATEGORY, POSETRACK18_KEYPOINTS, posetrack_image_id,
                                         write_json)

# Indices into the 17 PoseTrack18 keypoints (COCO order, head_bottom/head_top in the eye slots, ears never
# labelled).
NOSE, HEAD_BOTTOM, HEAD_TOP, L_EAR, R_EAR = (
    POSETRACK18_KEYPOINTS.index(n) for n in ('nose', 'head_bottom', 'head_top', 'left_ear', 'right_ear'))
L_SHO, R_SHO, L_ELB, R_ELB, L_WRI, R_WRI = (
    POSETRACK18_KEYPOINTS.index(n)
    for n in ('left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist'))
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANK, R_ANK = (
    POSETRACK18_KEYPOINTS.index(n)
    for n in ('left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle'))
UNLABELLED_KEYPOINTS = (L_EAR, R_EAR)

# Joint groups an occluder may cover (indices into the 17 keypoints).
OCCLUDER_GROUPS = ((L_ELB, L_WRI), (R_ELB, R_WRI), (L_KNEE, L_ANK), (R_KNEE, R_ANK), (L_KNEE, R_KNEE, L_ANK, R_ANK),
                   (L_SHO, L_ELB, L_WRI), (R_SHO, R_ELB, R_WRI))

# Angle names of the articulated figure; each is a sinusoid of time per body side.
_ANGLES = ('sho', 'elb', 'hip', 'knee')


@dataclass
class _Figure:
    """Motion and appearance parameters of one articulated figure (all sampled once per video)."""
    height: float
    x0: float
    y0: float
    vx: float
    ax: float
    ay: float
    phase_x: float
    period: float
    scale_amp: float
    lean_amp: float
    phase: float
    # angle parameters: name -> (base, amp, phase) for side (left, right)
    angles: Dict[str, Tuple[Tuple[float, float, float], Tuple[float, float, float]]]
    colors: Dict[str, Tuple[int, int, int]]


def _color(rng: np.random.Generator, lo: int = 20, hi: int = 235) -> Tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(lo, hi, size=3))


def _sample_figure(rng: np.random.Generator, img_w: int, img_h: int, x_range: Tuple[float, float],
                   height_range: Tuple[float, float]) -> _Figure:
    """Sample a figure whose body stays (mostly) inside the image for the whole video."""
    height = float(rng.uniform(*height_range))
    action = rng.choice(['free', 'jack', 'wave'], p=[0.5, 0.25, 0.25])
    angles = {}
    for name, base_rng, amp_rng in (('sho', (0.2, 1.5), (0.3, 0.7)), ('elb', (-1.0, 1.0), (0.2, 0.6)),
                                    ('hip', (0.02, 0.3), (0.05, 0.25)), ('knee', (-0.5, 0.2), (0.1, 0.4))):
        sides = []
        for _ in range(2):
            sides.append(
                (float(rng.uniform(*base_rng)), float(rng.uniform(*amp_rng)), float(rng.uniform(0, 2 * math.pi))))
        angles[name] = tuple(sides)
    if action == 'jack':  # both sides in phase, large abduction
        ph = float(rng.uniform(0, 2 * math.pi))
        angles['sho'] = ((1.3, 0.6, ph), (1.3, 0.6, ph))
        angles['hip'] = ((0.3, 0.25, ph), (0.3, 0.25, ph))
    elif action == 'wave':  # one raised arm waving with the elbow
        side = int(rng.integers(0, 2))
        sho = list(angles['sho'])
        elb = list(angles['elb'])
        sho[side] = (2.3, 0.3, float(rng.uniform(0, 2 * math.pi)))
        elb[side] = (0.2, 0.7, float(rng.uniform(0, 2 * math.pi)))
        angles['sho'], angles['elb'] = tuple(sho), tuple(elb)
    y_lo, y_hi = 0.56 * height + 4, img_h - 0.50 * height - 4
    colors = dict(
        shirt=_color(rng), pants=_color(rng, 10, 160), skin=_color(rng, 90, 240), hair=_color(rng, 0, 80),
        shoe=_color(rng, 0, 120))
    return _Figure(height=height, x0=float(rng.uniform(*x_range)), y0=float(rng.uniform(y_lo, max(y_lo, y_hi))),
                   vx=float(rng.uniform(-0.8, 0.8)), ax=float(rng.uniform(4, 16)), ay=float(rng.uniform(0, 4)),
                   phase_x=float(rng.uniform(0, 2 * math.pi)), period=float(rng.uniform(20, 32)),
                   scale_amp=float(rng.uniform(0, 0.08)), lean_amp=float(rng.uniform(0, 0.12)),
                   phase=float(rng.uniform(0, 2 * math.pi)), angles=angles, colors=colors)


def _figure_pose(fig: _Figure, t: int) -> Tuple[np.ndarray, dict]:
    """Keypoints (17, 2) of ``fig`` at frame ``t`` and the extra geometry used for drawing.

    The figure faces the camera, so its left side is on the image's right (+x), as for a real person
    facing the camera; horizontal flipping with left/right label swap therefore stays consistent.
    """
    w = 2 * math.pi * t / fig.period
    h = fig.height * (1 + fig.scale_amp * math.sin(0.5 * w + fig.phase))
    pelvis = np.array(
        [fig.x0 + fig.vx * t + fig.ax * math.sin(0.5 * w + fig.phase_x), fig.y0 + fig.ay * math.sin(2 * w + fig.phase)])
    lean = fig.lean_amp * math.sin(w + fig.phase)
    up = np.array([math.sin(lean), -math.cos(lean)])
    out = np.array([math.cos(lean), math.sin(lean)])  # towards the figure's left (image +x)

    def angle(name: str, side: int) -> float:
        base, amp, phase = fig.angles[name][side]
        return base + amp * math.sin(w + phase)

    def limb_dir(a: float, sign: float, rot: float) -> np.ndarray:
        # a = abduction from "hanging down"; rotated by the torso lean for the arms
        d = np.array([sign * math.sin(a), math.cos(a)])
        c, s = math.cos(rot), math.sin(rot)
        return np.array([c * d[0] - s * d[1], s * d[0] + c * d[1]])

    kpts = np.zeros((NUM_KEYPOINTS, 2))
    neck = pelvis + up * 0.30 * h
    kpts[HEAD_BOTTOM] = neck + up * 0.04 * h
    kpts[HEAD_TOP] = kpts[HEAD_BOTTOM] + up * 0.17 * h
    kpts[NOSE] = kpts[HEAD_BOTTOM] + up * 0.065 * h
    feet = []
    for side, sign, sho_i, elb_i, wri_i, hip_i, knee_i, ank_i in ((0, 1.0, L_SHO, L_ELB, L_WRI, L_HIP, L_KNEE, L_ANK),
                                                                  (1, -1.0, R_SHO, R_ELB, R_WRI, R_HIP, R_KNEE, R_ANK)):
        kpts[sho_i] = neck + sign * out * 0.12 * h - up * 0.015 * h
        a = float(np.clip(angle('sho', side), -0.3, 2.8))
        kpts[elb_i] = kpts[sho_i] + limb_dir(a, sign, lean) * 0.16 * h
        kpts[wri_i] = kpts[elb_i] + limb_dir(a + angle('elb', side), sign, lean) * 0.15 * h
        kpts[hip_i] = pelvis + sign * out * 0.08 * h
        a = float(np.clip(angle('hip', side), -0.1, 0.8))
        kpts[knee_i] = kpts[hip_i] + limb_dir(a, sign, 0.0) * 0.24 * h
        kpts[ank_i] = kpts[knee_i] + limb_dir(a + angle('knee', side), sign, 0.0) * 0.23 * h
        feet.append(kpts[ank_i] + np.array([sign * 0.06 * h, 0.02 * h]))
    # ears are never labelled in PoseTrack; keep a plausible location only for drawing
    kpts[L_EAR] = kpts[NOSE] + out * 0.06 * h
    kpts[R_EAR] = kpts[NOSE] - out * 0.06 * h
    head_center = (kpts[HEAD_BOTTOM] + kpts[HEAD_TOP]) / 2
    extra = dict(h=h, lean=lean, neck=neck, feet=feet, head_center=head_center, head_axes=(0.075 * h, 0.09 * h))
    return kpts, extra


def _pt(p: np.ndarray) -> Tuple[int, int]:
    # cv2 drawing with 2 fractional bits keeps sub-pixel motion smooth
    return int(round(p[0] * 4)), int(round(p[1] * 4))


def _line(img, a, b, color, thickness):
    cv2.line(img, _pt(a), _pt(b), color, max(1, int(round(thickness))), cv2.LINE_AA, shift=2)


def _draw_figure(img: np.ndarray, fig: _Figure, kpts: np.ndarray, extra: dict) -> None:
    h, c = extra['h'], fig.colors
    for ank_i, knee_i, hip_i, foot in ((L_ANK, L_KNEE, L_HIP, extra['feet'][0]), (R_ANK, R_KNEE, R_HIP,
                                                                                  extra['feet'][1])):
        _line(img, kpts[hip_i], kpts[knee_i], c['pants'], 0.075 * h)
        _line(img, kpts[knee_i], kpts[ank_i], c['pants'], 0.06 * h)
        _line(img, kpts[ank_i], foot, c['shoe'], 0.04 * h)
    torso = np.stack([kpts[L_SHO], kpts[R_SHO], kpts[R_HIP], kpts[L_HIP]])
    cv2.fillPoly(img, [np.round(torso * 4).astype(np.int32)], c['shirt'], cv2.LINE_AA, shift=2)
    _line(img, extra['neck'], kpts[HEAD_BOTTOM], c['skin'], 0.05 * h)
    for sho_i, elb_i, wri_i in ((L_SHO, L_ELB, L_WRI), (R_SHO, R_ELB, R_WRI)):
        _line(img, kpts[sho_i], kpts[elb_i], c['shirt'], 0.055 * h)
        _line(img, kpts[elb_i], kpts[wri_i], c['skin'], 0.045 * h)
        cv2.circle(img, _pt(kpts[wri_i]), int(round(0.03 * h * 4)), c['skin'], -1, cv2.LINE_AA, shift=2)
    center, axes, angle = extra['head_center'], extra['head_axes'], math.degrees(extra['lean'])
    ax4 = (int(round(axes[0] * 4)), int(round(axes[1] * 4)))
    cv2.ellipse(img, _pt(center), ax4, angle, 0, 360, c['skin'], -1, cv2.LINE_AA, shift=2)
    # hair on the upper half marks head_top vs head_bottom
    cv2.ellipse(img, _pt(center), ax4, angle, 180, 360, c['hair'], -1, cv2.LINE_AA, shift=2)
    nose_color = tuple(int(v * 0.6) for v in c['skin'])
    cv2.circle(img, _pt(kpts[NOSE]), int(round(0.015 * h * 4)), nose_color, -1, cv2.LINE_AA, shift=2)


def _figure_extent(kpts: np.ndarray, extra: dict) -> np.ndarray:
    """xyxy box around everything drawn for a figure (limb thickness included)."""
    h = extra['h']
    pts = np.concatenate(
        [kpts, np.stack(extra['feet']), extra['head_center'][None] + np.array([[-1, -1], [1, 1]]) * 0.09 * h])
    pad = 0.04 * h
    return np.array([pts[:, 0].min() - pad, pts[:, 1].min() - pad, pts[:, 0].max() + pad, pts[:, 1].max() + pad])


def _background(rng: np.random.Generator, img_w: int, img_h: int) -> np.ndarray:
    """Smooth colour field + a few flat shapes + fine noise (static per video)."""
    base = rng.uniform(40, 215, size=(img_h // 40 + 2, img_w // 40 + 2, 3)).astype(np.float32)
    img = cv2.resize(base, (img_w, img_h), interpolation=cv2.INTER_CUBIC)
    # desaturate so that the figures stand out as in real footage
    img = 0.55 * img + 0.45 * img.mean(axis=2, keepdims=True)
    img = img.clip(0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(3, 7))):
        x1, y1 = int(rng.integers(0, img_w)), int(rng.integers(0, img_h))
        w, h = int(rng.integers(10, img_w // 3)), int(rng.integers(5, img_h // 3))
        cv2.rectangle(img, (x1, y1), (x1 + w, y1 + h), _color(rng), -1)
    for _ in range(int(rng.integers(2, 5))):
        p1 = (int(rng.integers(0, img_w)), int(rng.integers(0, img_h)))
        p2 = (int(rng.integers(0, img_w)), int(rng.integers(0, img_h)))
        cv2.line(img, p1, p2, _color(rng), int(rng.integers(1, 4)), cv2.LINE_AA)
    noise = rng.normal(0, 6, size=img.shape)
    return (img.astype(np.float32) + noise).clip(0, 255).astype(np.uint8)


def _motion_blur(img: np.ndarray, length: int, angle: float) -> np.ndarray:
    kernel = np.zeros((length, length), np.float32)
    c = (length - 1) / 2
    d = np.array([math.cos(angle), math.sin(angle)]) * c
    cv2.line(kernel, (int(round(c - d[0])), int(round(c - d[1]))), (int(round(c + d[0])), int(round(c + d[1]))), 1.0, 1)
    kernel /= kernel.sum()
    return cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT)


def _draw_occluder(img: np.ndarray, rng: np.random.Generator, box: np.ndarray) -> None:
    """A textured (striped) patch; a different look every time."""
    x1, y1, x2, y2 = [int(round(v)) for v in box]
    h_img, w_img = img.shape[:2]
    x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w_img), min(y2, h_img)
    if x2 <= x1 or y2 <= y1:
        return
    patch = np.empty((y2 - y1, x2 - x1, 3), np.uint8)
    patch[:] = _color(rng)
    stripe, color2 = int(rng.integers(2, 6)), _color(rng)
    yy, xx = np.mgrid[0:y2 - y1, 0:x2 - x1]
    patch[((xx + yy) // stripe) % 2 == 0] = color2
    img[y1:y2, x1:x2] = patch


def _split_videos(split: str, num_videos: int, vid_offset: int) -> List[Tuple[int, str]]:
    suffix = 'synth_train' if split == 'train' else 'synth_val'
    return [(vid_offset + i, f'{vid_offset + i:06d}_{suffix}') for i in range(num_videos)]


def _labelled_frames(split: str, nframes: int) -> List[int]:
    if split == 'train':  # dense in the centre, like PoseTrack train
        n_lab = max(1, (2 * nframes) // 3)
        start = (nframes - n_lab) // 2
        return list(range(start, start + n_lab))
    return list(range(0, nframes, 4))  # every 4th frame, like PoseTrack val


@dataclass
class _VideoPlan:
    """What is sampled once per video: the static background, the people, the labelled and degraded frames."""
    background: np.ndarray
    figures: List[_Figure]
    bystander: Optional[_Figure]
    labelled: Set[int]
    degradation: List[str]


def _sample_people(rng: np.random.Generator, img_w: int, img_h: int,
                   with_bystander: bool) -> Tuple[List[_Figure], Optional[_Figure]]:
    """1-2 annotated figures side by side, and optionally a small unannotated bystander near the top."""
    num_people = int(rng.integers(1, 3))
    if num_people == 1:
        x_ranges = [(0.35 * img_w, 0.65 * img_w)]
    else:
        x_ranges = [(0.2 * img_w, 0.35 * img_w), (0.65 * img_w, 0.8 * img_w)]
    figures = [_sample_figure(rng, img_w, img_h, xr, (0.45 * img_h, 0.68 * img_h)) for xr in x_ranges]
    bystander = None
    if with_bystander:  # small unannotated person -> ignore region, as in PoseTrack
        bystander = _sample_figure(rng, img_w, img_h, (0.06 * img_w, 0.08 * img_w), (0.16 * img_h, 0.2 * img_h))
        bystander.vx, bystander.ax = 0.0, 1.0
        bystander.y0 = 0.56 * bystander.height + 6
        if rng.random() < 0.5:
            bystander.x0 = img_w - bystander.x0
    return figures, bystander


def _sample_degradations(rng: np.random.Generator, nframes: int, labelled: Set[int]) -> List[str]:
    """``'none'``, ``'blur'`` or ``'occlusion'`` per frame: degraded frames are never closer than 3 frames
    to each other and mostly labelled."""
    degradation = ['none'] * nframes
    last = -10
    for t in range(nframes):
        p = 0.45 if t in labelled else 0.08
        if t - last >= 3 and rng.random() < p:
            degradation[t] = str(rng.choice(['blur', 'occlusion'], p=[0.4, 0.6]))
            last = t
    return degradation


def _sample_video(rng: np.random.Generator, split: str, nframes: int, img_size: Tuple[int, int],
                  with_bystander: bool) -> _VideoPlan:
    img_w, img_h = img_size
    background = _background(rng, img_w, img_h)
    figures, bystander = _sample_people(rng, img_w, img_h, with_bystander)
    labelled = set(_labelled_frames(split, nframes))
    return _VideoPlan(background, figures, bystander, labelled, _sample_degradations(rng, nframes, labelled))


def _render_frame(rng: np.random.Generator, plan: _VideoPlan,
                  t: int) -> Tuple[np.ndarray, List[Tuple[np.ndarray, dict]], Optional[np.ndarray]]:
    """Frame ``t`` before any degradation: the background with fresh sensor noise, the bystander and the
    figures (nearer, i.e. lower, figures drawn last).

    Returns:
        tuple: the image, every figure's ``(keypoints, drawing geometry)`` (see :func:`_figure_pose`) and the
        bystander's xyxy extent (``None`` without a bystander).
    """
    img = plan.background.copy()
    img = (img.astype(np.int16) + rng.integers(-4, 5, size=img.shape)).clip(0, 255)
    img = img.astype(np.uint8)
    poses = [_figure_pose(f, t) for f in plan.figures]
    bystander_box = None
    if plan.bystander is not None:
        kb, eb = _figure_pose(plan.bystander, t)
        _draw_figure(img, plan.bystander, kb, eb)
        bystander_box = _figure_extent(kb, eb)
    order = sorted(range(len(plan.figures)), key=lambda i: poses[i][0][L_ANK, 1])
    for i in order:
        _draw_figure(img, plan.figures[i], *poses[i])
    return img, poses, bystander_box


def _degrade(rng: np.random.Generator, img: np.ndarray, kind: str, poses: List[Tuple[np.ndarray, dict]]) -> np.ndarray:
    """Apply ``kind``: ``'occlusion'`` (an occluder over a random joint group of a random figure; the joints
    stay labelled), ``'blur'`` (motion blur) or ``'none'``."""
    if kind == 'occlusion':
        i = int(rng.integers(0, len(poses)))
        group = OCCLUDER_GROUPS[int(rng.integers(0, len(OCCLUDER_GROUPS)))]
        pts = poses[i][0][list(group)]
        pad = 0.07 * poses[i][1]['h']
        _draw_occluder(
            img, rng,
            np.array([pts[:, 0].min() - pad, pts[:, 1].min() - pad, pts[:, 0].max() + pad, pts[:, 1].max() + pad]))
    elif kind == 'blur':
        img = _motion_blur(img, int(rng.integers(13, 21)) | 1, float(rng.uniform(0, math.pi)))
    return img


def _ignore_region(box: np.ndarray) -> Tuple[List[float], List[float]]:
    """The PoseTrack ignore polygon (x and y lists) of an xyxy box, enlarged by 3 px."""
    x1, y1, x2, y2 = box + np.array([-3, -3, 3, 3])
    return ([round(float(v), 1) for v in (x1, x2, x2, x1)], [round(float(v), 1) for v in (y1, y1, y2, y2)])


def _image_record(plan: _VideoPlan, file_name: str, vid: int, t: int, img_size: Tuple[int, int],
                  ignore_regions: List[Tuple[List[float], List[float]]]) -> dict:
    """The PoseTrack18 ``images[]`` entry of frame ``t``, plus the extra field ``degradation``."""
    image_id = posetrack_image_id(vid, t)
    return dict(is_labeled=t in plan.labelled, file_name=file_name, nframes=len(plan.degradation), frame_id=image_id,
                vid_id=f'{vid:06d}', ignore_regions_x=[xs for xs, _ in ignore_regions],
                ignore_regions_y=[ys for _, ys in ignore_regions], id=image_id, width=img_size[0], height=img_size[1],
                degradation=plan.degradation[t])


def _annotation_records(image_id: int, poses: List[Tuple[np.ndarray, dict]], img_size: Tuple[int, int]) -> List[dict]:
    """The PoseTrack18 ``annotations[]`` entries of the figures of one labelled frame (track id = figure
    index); the keypoints outside the image and the ears are unlabelled, a figure without any is left out."""
    img_w, img_h = img_size
    annotations = []
    for track_id, (kpts, extra) in enumerate(poses):
        kp3 = np.zeros((NUM_KEYPOINTS, 3))
        inside = ((kpts[:, 0] >= 0) & (kpts[:, 0] <= img_w - 1) & (kpts[:, 1] >= 0) & (kpts[:, 1] <= img_h - 1))
        inside[list(UNLABELLED_KEYPOINTS)] = False
        kp3[inside, :2] = kpts[inside].round(2)
        kp3[inside, 2] = 1
        if not inside.any():
            continue
        x1, y1, x2, y2 = _figure_extent(kpts, extra)
        x1, y1 = round(max(x1, 0.0), 2), round(max(y1, 0.0), 2)
        w, h = round(min(x2, img_w - 1.0) - x1, 2), round(min(y2, img_h - 1.0) - y1, 2)
        hc, (hax, hay) = extra['head_center'], extra['head_axes']
        annotations.append(
            dict(bbox_head=[round(float(v), 2) for v in (hc[0] - hax, hc[1] - hay, 2 * hax, 2 * hay)],
                 keypoints=[float(v) for v in kp3.reshape(-1)], track_id=track_id, image_id=image_id,
                 bbox=[float(x1), float(y1), float(w),
                       float(h)], scores=[], category_id=1, id=image_id * 100 + track_id, iscrowd=False,
                 num_keypoints=int(inside.sum()), area=round(float(w * h), 2)))
    return annotations


def _render_video(rng: np.random.Generator, split: str, vid: int, video: str, nframes: int, img_size: Tuple[int, int],
                  out_dir: str, with_bystander: bool) -> Tuple[List[dict], List[dict]]:
    """Render one video to JPEG files; return its (images, annotations) json entries."""
    plan = _sample_video(rng, split, nframes, img_size, with_bystander)
    os.makedirs(osp.join(out_dir, 'images', split, video), exist_ok=True)
    images, annotations = [], []
    for t in range(nframes):
        img, poses, bystander_box = _render_frame(rng, plan, t)
        img = _degrade(rng, img, plan.degradation[t], poses)
        file_name = f'images/{split}/{video}/{t:06d}.jpg'
        cv2.imwrite(osp.join(out_dir, file_name), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        labelled = t in plan.labelled
        ignore = [_ignore_region(bystander_box)] if labelled and bystander_box is not None else []
        images.append(_image_record(plan, file_name, vid, t, img_size, ignore))
        if labelled:
            annotations += _annotation_records(images[-1]['id'], poses, img_size)
    return images, annotations


def _detections(rng: np.random.Generator, images: List[dict], annotations: List[dict]) -> List[dict]:
    """MMPose-style detections for labelled frames: jittered GT boxes + a few false positives."""
    by_image: Dict[int, List[dict]] = {}
    for ann in annotations:
        by_image.setdefault(ann['image_id'], []).append(ann)
    dets = []
    for img in images:
        if not img['is_labeled']:
            continue
        img_w, img_h = img['width'], img['height']
        for ann in by_image.get(img['id'], []):
            x, y, w, h = ann['bbox']
            cx = x + w / 2 + rng.normal(0, 0.04 * w)
            cy = y + h / 2 + rng.normal(0, 0.03 * h)
            w, h = w * rng.uniform(0.9, 1.12), h * rng.uniform(0.92, 1.08)
            dets.append(
                dict(image_id=img['id'], category_id=1,
                     bbox=[round(float(v), 2) for v in (cx - w / 2, cy - h / 2, w, h)],
                     score=round(float(rng.uniform(0.7, 0.99)), 4)))
        for xs, ys in zip(img['ignore_regions_x'], img['ignore_regions_y']):
            # the unannotated bystander gets detected too (its keypoints fall in the ignore region)
            dets.append(
                dict(image_id=img['id'], category_id=1, bbox=[min(xs),
                                                              min(ys),
                                                              max(xs) - min(xs),
                                                              max(ys) - min(ys)],
                     score=round(float(rng.uniform(0.3, 0.6)), 4)))
        if rng.random() < 0.35:
            # a false positive inside the image (small test images get a smaller box)
            w, h = min(rng.uniform(20, 70), img_w - 1), min(rng.uniform(30, 90), img_h - 1)
            x, y = rng.uniform(0, img_w - w), rng.uniform(0, img_h - h)
            dets.append(
                dict(image_id=img['id'], category_id=1, bbox=[round(float(v), 2) for v in (x, y, w, h)],
                     score=round(float(rng.uniform(0.05, 0.5)), 4)))
    return dets


def make_synthetic_posetrack(out_dir: str, seed: int = 0, num_train_videos: int = 16, num_val_videos: int = 48,
                             train_frames: int = 24, val_frames: int = 25,
                             img_size: Tuple[int, int] = (320, 240)) -> Dict[str, int]:
    """Write the synthetic PoseTrack18-layout dataset into ``out_dir``.

    Args:
        out_dir (str): Output root (becomes the ``data_root`` of a config).
        seed (int): Random seed. The output (json and pixels) is a pure function of the arguments.
        num_train_videos (int): Number of training videos (16: about 400 training people).
        num_val_videos (int): Number of validation videos (48: 400-500 evaluated people, 40% of them on
            blurred or occluded key frames, so that a 2-AP difference between two models is outside the
            seed-to-seed noise; see the README).
        train_frames (int): Frames per training video (the central 2/3 are labelled).
        val_frames (int): Frames per validation video (every 4th frame from 0 is labelled).
        img_size (tuple[int, int]): Image (width, height).

    Returns:
        dict: Counts of written ``images``, ``labelled_images`` and ``annotations`` per split, e.g.
        ``{'train_images': 192, 'train_labelled_images': 128, 'train_annotations': 176, ...}``.
    """
    if num_train_videos < 1 or num_val_videos < 1:
        raise ValueError('num_train_videos and num_val_videos must be >= 1, got '
                         f'{num_train_videos} and {num_val_videos}')
    if min(train_frames, val_frames) < 1:
        raise ValueError(f'train_frames and val_frames must be >= 1, got {train_frames}, '
                         f'{val_frames}')
    rng = np.random.default_rng(seed)
    summary = {}
    for split, num_videos, nframes, vid_offset in (('train', num_train_videos, train_frames, 100001),
                                                   ('val', num_val_videos, val_frames, 200001)):
        all_images, all_anns = [], []
        for i, (vid, video) in enumerate(_split_videos(split, num_videos, vid_offset)):
            # bystander + ignore region in the first val video and every 4th train video
            with_bystander = (i == 0) if split == 'val' else (i % 4 == 1)
            images, anns = _render_video(rng, split, vid, video, nframes, tuple(img_size), out_dir, with_bystander)
            write_json(
                dict(images=images, annotations=anns, categories=[PERSON_CATEGORY]),
                osp.join(out_dir, 'annotations', split, f'{video}.json'))
            all_images += images
            all_anns += anns
        write_json(
            dict(images=all_images, annotations=all_anns, categories=[PERSON_CATEGORY]),
            osp.join(out_dir, 'annotations', f'posetrack18_{split}.json'))
        if split == 'val':
            write_json(
                _detections(rng, all_images, all_anns),
                osp.join(out_dir, 'annotations', 'posetrack18_val_human_detections.json'))
        summary[f'{split}_images'] = len(all_images)
        summary[f'{split}_labelled_images'] = sum(im['is_labeled'] for im in all_images)
        summary[f'{split}_annotations'] = len(all_anns)
    return summary
