"""A small, deterministic synthetic 3D pose dataset in MMPose's Human3.6M lifting layout.

It exists so that 2D-to-3D lifting (``Human36mDataset`` -> lifting codec -> ``PoseLifter`` -> ``MPJPE``) can be
trained and compared in minutes on a CPU: no Human3.6M data can be downloaded here.

Content: articulated 17-joint skeletons (Human3.6M joint order, bone lengths of the real subjects scaled per
synthetic subject, joint limits) performing four kinds of motion: ``Walking`` (gait along a curved path),
``Sitting`` (sitting down, standing up, seated activity), ``Reaching`` (arm reaches to targets at all heights,
with trunk lean and squats) and ``Turning`` (turns on the spot while stepping, one arm waving). The 3D motion is
seen by the four real Human3.6M cameras of each subject (``cameras.pkl``, with their distortion), so every pose
has four views and the monocular depth is ambiguous.

The 2D "detections" are the projected joints with the errors of a real 2D detector: per-joint noise (wrists,
ankles, hips and spine noisier), temporally correlated drift plus frame jitter, **occlusion** episodes
(random, and self-occlusion of limbs behind the torso) where the detection wanders tens of pixels off with a low
score, and **left/right swaps** of limb pairs (more likely when the two joints are close in the image) with a
deceptively high score. Each detection also has a per-joint *spread*, the uncertainty a sampling 2D model
(e.g. the ``keypoint_spread`` of this project's video DiffPose) would report: close to the true error scale
for clean joints, large for occluded joints, about half the pair distance for swapped joints.

Layout written under ``out_dir`` (that of MMPose's ``data/h36m``, so ``Human36mDataset`` loads it unchanged)::

    annotation_body3d/cameras.pkl                        # copy of the camera file
    annotation_body3d/fps50/h36m_{train,test}.npz        # imgname, center, scale, part (N,17,3), S (N,17,4)
    joint_2d_det_files/synthetic_det_{train,test}.npy    # (N, 17, 3): x, y, score, frame-aligned with the npz
    joint_2d_det_files/synthetic_det_{train,test}_spread.npy   # (N, 17): per-joint spread in pixels
    joint_2d_det_files/synthetic_det_{train,test}_gmm.npz      # per-joint 2D GMMs (keypoint_gmm file format)
    joint_2d_det_files/synthetic_det_{train,test}_flags.npy    # (N, 17) int8: 0 clean, 1 occluded, 2 swapped
    synthetic_h36m.json                                  # the generator's arguments (seed) and statistics

Image names follow Human3.6M: ``S1/S1_Walking.54138969/S1_Walking.54138969_000001.jpg`` (no image is written;
the lifting pipeline never reads one). Sub-action 2 of an action is named ``<Action>_1`` as in Human3.6M.
"""
import json
import os
import os.path as osp
import pickle
import shutil
from typing import Dict, Sequence, Tuple

import numpy as np

from ..datasets.keypoint_gmm import gmm_from_keypoints, save_keypoint_gmm

# Human3.6M's 17 joints in MMPose's order (``configs/_base_/datasets/h36m.py``).
H36M_KEYPOINTS = ('root', 'right_hip', 'right_knee', 'right_foot', 'left_hip', 'left_knee', 'left_foot', 'spine',
                  'thorax', 'neck_base', 'head', 'left_shoulder', 'left_elbow', 'left_wrist', 'right_shoulder',
                  'right_elbow', 'right_wrist')
H36M_FLIP_INDICES = (0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13)
(ROOT, R_HIP, R_KNEE, R_FOOT, L_HIP, L_KNEE, L_FOOT, SPINE, THORAX, NECK, HEAD, L_SHO, L_ELB, L_WRI, R_SHO, R_ELB,
 R_WRI) = range(17)
ACTIONS = ('Walking', 'Sitting', 'Reaching', 'Turning')
FPS = 50
# Bone lengths (m) of Human3.6M subject S1 (measured on MMPose's test fixture), scaled per synthetic subject.
BONES = dict(hip=0.133, thigh=0.443, shin=0.454, spine=0.233, chest=0.257, neck=0.121, head=0.115, shoulder=0.151,
             upper_arm=0.279, forearm=0.252)
ANKLE_HEIGHT = 0.08
# Joint limits (rad) of the angles driving the skeleton.
LIMITS = dict(
    hip_flex=(-0.6, 2.1), hip_abd=(-0.15, 0.8), knee=(0., 2.6), lean=(-0.35, 1.1), side=(-0.3, 0.3), twist=(-0.8, 0.8),
    nod=(-0.5, 0.6), sho_flex=(-0.9, 3.1), sho_abd=(0., 2.9), elbow=(0., 2.6))
# Per-joint difficulty of the 2D detector (x the base noise).
JOINT_NOISE = np.array([1.3, 1.2, 1.0, 1.2, 1.2, 1.0, 1.2, 1.5, 1.0, 1.0, 1.0, 0.9, 1.1, 1.5, 0.9, 1.1, 1.5])
SWAP_PAIRS = ((R_HIP, L_HIP), (R_KNEE, L_KNEE), (R_FOOT, L_FOOT), (R_SHO, L_SHO), (R_ELB, L_ELB), (R_WRI, L_WRI))
LIMB_JOINTS = (R_KNEE, R_FOOT, L_KNEE, L_FOOT, R_ELB, R_WRI, L_ELB, L_WRI)
DEFAULT_CAMERA_FILE = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'tests', 'data', 'h36m', 'cameras.pkl')


# ----------------------------------------------------------------------------------------------- motion
def _smooth_noise(rng: np.random.Generator, n: int, amp: float, freq: float = 0.4) -> np.ndarray:
    """``(n,)`` smooth random wiggle: three sinusoids around ``freq`` Hz, total amplitude about ``amp``."""
    t = np.arange(n) / FPS
    out = np.zeros(n)
    for _ in range(3):
        out += np.sin(2 * np.pi * freq * rng.uniform(0.5, 2.0) * t + rng.uniform(0, 2 * np.pi))
    return amp * out / 3


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0, 1)
    return x * x * (3 - 2 * x)


def _angles(rng: np.random.Generator, action: str, n: int) -> Tuple[Dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Joint angles ``{name: (n,)}`` (``<name>_r``/``_l`` per side), root ``xy (n, 2)`` and heading ``(n,)``
    of one motion clip of ``n`` frames."""
    t = np.arange(n) / FPS
    z = np.zeros(n)
    a = {k: z.copy() for k in ('lean', 'side', 'twist', 'nod')}
    for s in 'rl':
        a.update({
            f'hip_flex_{s}': z.copy(),
            f'hip_abd_{s}': np.full(n, 0.05),
            f'knee_{s}': np.full(n, 0.05),
            f'sho_flex_{s}': np.full(n, 0.1),
            f'sho_abd_{s}': np.full(n, 0.15),
            f'elbow_{s}': np.full(n, 0.3)
        })
    start = rng.uniform(0, 2 * np.pi)
    xy = np.repeat(rng.uniform(-0.8, 0.8, (1, 2)), n, axis=0)
    heading = np.full(n, rng.uniform(-np.pi, np.pi))

    def gait(amp: float, freq: float, phase: float = None) -> None:
        phi = 2 * np.pi * freq * t + (rng.uniform(0, 2 * np.pi) if phase is None else phase)
        for s, off in (('r', 0.), ('l', np.pi)):
            a[f'hip_flex_{s}'] += amp * np.sin(phi + off) + 0.1 * amp
            a[f'knee_{s}'] += 2.2 * amp * (0.5 + 0.5 * np.sin(phi + off + 1.6))**2 + 0.1
            a[f'sho_flex_{s}'] -= 0.8 * amp * np.sin(phi + off)  # arms swing against the leg of their side
            a[f'elbow_{s}'] += 0.4 * amp * (1 + np.sin(phi + off + 0.3))
        a['twist'] += 0.25 * amp * np.sin(phi)

    if action == 'Walking':
        speed, freq = rng.uniform(0.8, 1.5), rng.uniform(0.8, 1.0)
        gait(amp=0.22 + 0.12 * (speed - 0.8), freq=freq)
        a['lean'] += rng.uniform(0.03, 0.15)
        # along a curved path through the capture area, starting on its rim and heading inwards
        pos = 1.4 * np.array([np.cos(start), np.sin(start)])
        turn_rate = rng.uniform(-0.5, 0.5)  # rad/s
        psi = start + np.pi + rng.uniform(-0.5, 0.5) + turn_rate * t
        heading = psi
        xy = pos + np.cumsum(speed / FPS * np.stack([np.cos(psi), np.sin(psi)], -1), axis=0)
    elif action == 'Sitting':
        kind = rng.integers(3)  # 0 sit down, 1 stand up, 2 seated activity
        t0, dur = rng.uniform(0.1, 0.5) * t[-1], rng.uniform(1.0, 1.6)
        s = _smoothstep((t - t0) / dur)
        s = {0: s, 1: 1 - s, 2: np.ones(n)}[kind]
        transition = np.sin(np.pi * s) if kind < 2 else z
        for side in 'rl':
            a[f'hip_flex_{side}'] += 1.5 * s + 0.2 * s * rng.uniform(-1, 1)
            a[f'knee_{side}'] += 1.5 * s + 0.25 * s * rng.uniform(-1, 1)
            a[f'hip_abd_{side}'] += 0.15 * s * rng.uniform(0.3, 1.5)
            a[f'sho_flex_{side}'] += 0.7 * transition + 0.3 * s
            a[f'elbow_{side}'] += 0.8 * s + 0.4 * transition
        a['lean'] += 0.6 * transition + 0.1 * s
        if kind == 2:  # seated: one hand to the face and back (phoning, eating)
            side = 'rl'[rng.integers(2)]
            lift = _smoothstep(np.sin(2 * np.pi * rng.uniform(0.2, 0.4) * t + rng.uniform(0, 6))**2 * 1.5)
            a[f'sho_flex_{side}'] += 0.6 * lift
            a[f'elbow_{side}'] += 1.3 * lift
            a['lean'] += 0.15 * _smooth_noise(rng, n, 1.0)
    elif action == 'Reaching':
        # a sequence of reaches, each 0.8-1.4 s: one arm to a target at some height; low targets make the
        # subject lean and squat
        k = 0
        while k < n:
            dur = int(rng.uniform(0.8, 1.4) * FPS)
            w = np.sin(np.pi * np.clip((np.arange(n) - k) / dur, 0, 1))**2  # 0 -> 1 -> 0 over the reach
            side = 'rl'[rng.integers(2)]
            flex = rng.uniform(0.4, 2.9)
            a[f'sho_flex_{side}'] += w * flex
            a[f'sho_abd_{side}'] += w * rng.uniform(0, 1.0)
            a[f'elbow_{side}'] += (w > 0) * (1 - w) * rng.uniform(0.5, 1.2) - 0.3 * w  # bent, then extended
            low = max(0., 1.2 - flex) / 0.8  # 0 for high targets, up to 1 for low ones
            a['lean'] += w * low * rng.uniform(0.4, 0.9)
            for s2 in 'rl':
                a[f'hip_flex_{s2}'] += w * low * rng.uniform(0.2, 0.8)
                a[f'knee_{s2}'] += w * low * rng.uniform(0.3, 1.0)
            a['twist'] += w * rng.uniform(-0.4, 0.4)
            k += int(dur * rng.uniform(0.6, 1.0))
    elif action == 'Turning':
        t0, dur = rng.uniform(0.05, 0.3) * t[-1], rng.uniform(1.0, 1.8)
        turn = rng.choice([-1, 1]) * rng.uniform(np.pi / 2, np.pi)
        progress = _smoothstep((t - t0) / dur)
        heading = heading + turn * progress
        turning = np.gradient(progress) * FPS * dur / 1.5  # about 1 while turning
        gait(amp=0.12, freq=rng.uniform(0.9, 1.2))
        for key in list(a):
            if key.startswith(('hip_flex', 'knee')):
                a[key] *= 0.3 + 0.7 * np.clip(turning, 0, 1)
        a['twist'] += 0.35 * np.sign(turn) * np.clip(turning, 0, 1)
        side = 'rl'[rng.integers(2)]  # one arm waves (greeting)
        a[f'sho_flex_{side}'] += rng.uniform(1.8, 2.7)
        a[f'sho_abd_{side}'] += rng.uniform(0.2, 0.8)
        a[f'elbow_{side}'] += 0.8 + 0.4 * np.sin(2 * np.pi * rng.uniform(1.0, 2.0) * t)
        xy = xy + np.cumsum(rng.normal(0, 0.002, (n, 2)), axis=0)
    else:
        raise ValueError(f'synthetic_h36m: unknown action {action!r}, choose from {ACTIONS}')

    for key in a:  # individual style: every angle wiggles a little
        a[key] = a[key] + _smooth_noise(rng, n, 0.08)
        lo, hi = LIMITS[key.rsplit('_', 1)[0] if key[-2:] in ('_r', '_l') else key]
        a[key] = np.clip(a[key], lo, hi)
    return a, xy, heading


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _forward_kinematics(bones: Dict[str, float], a: Dict[str, np.ndarray], xy: np.ndarray,
                        heading: np.ndarray) -> np.ndarray:
    """World coordinates ``(n, 17, 3)`` (m, z up, ankles on the floor) of the skeleton driven by ``a``."""
    n = len(heading)
    c, s = np.cos(heading)[:, None], np.sin(heading)[:, None]
    up = np.tile([0., 0., 1.], (n, 1))
    fwd = np.concatenate([c, s, np.zeros((n, 1))], 1)
    left = np.concatenate([-s, c, np.zeros((n, 1))], 1)
    col = lambda v: v[:, None]  # noqa: E731
    J = np.zeros((n, 17, 3))
    J[:, ROOT, :2] = 0
    for side, hip, knee, foot, sign in (('r', R_HIP, R_KNEE, R_FOOT, -1), ('l', L_HIP, L_KNEE, L_FOOT, 1)):
        out = sign * left
        J[:, hip] = J[:, ROOT] + bones['hip'] * out
        hf, ha, kn = a[f'hip_flex_{side}'], a[f'hip_abd_{side}'], a[f'knee_{side}']
        thigh = _unit(col(-np.cos(hf) * np.cos(ha)) * up + col(np.sin(hf) * np.cos(ha)) * fwd + col(np.sin(ha)) * out)
        pitch = hf - kn  # the shin folds backwards from the thigh
        shin = _unit(
            col(-np.cos(pitch) * np.cos(ha)) * up + col(np.sin(pitch) * np.cos(ha)) * fwd + col(np.sin(ha)) * out)
        J[:, knee] = J[:, hip] + bones['thigh'] * thigh
        J[:, foot] = J[:, knee] + bones['shin'] * shin
    # upper body: twisted relative to the pelvis, bent forward (lean) and sideways
    tw = a['twist']
    fwd_u = col(np.cos(tw)) * fwd + col(np.sin(tw)) * left
    left_u = col(-np.sin(tw)) * fwd + col(np.cos(tw)) * left

    def axis(lean: np.ndarray, side: np.ndarray) -> np.ndarray:
        return _unit(col(np.cos(lean) * np.cos(side)) * up + col(np.sin(lean)) * fwd_u + col(np.sin(side)) * left_u)

    J[:, SPINE] = J[:, ROOT] + bones['spine'] * axis(0.6 * a['lean'], 0.6 * a['side'])
    trunk = axis(a['lean'], a['side'])
    J[:, THORAX] = J[:, SPINE] + bones['chest'] * trunk
    head_axis = axis(a['lean'] + a['nod'], a['side'])
    J[:, NECK] = J[:, THORAX] + bones['neck'] * _unit(head_axis + 0.35 * fwd_u)
    J[:, HEAD] = J[:, NECK] + bones['head'] * head_axis
    fwd_t = _unit(fwd_u - np.sum(fwd_u * trunk, -1, keepdims=True) * trunk)  # forward, orthogonal to the trunk
    for side, sho, elb, wri, sign in (('r', R_SHO, R_ELB, R_WRI, -1), ('l', L_SHO, L_ELB, L_WRI, 1)):
        out = sign * _unit(left_u - np.sum(left_u * trunk, -1, keepdims=True) * trunk)  # across the trunk
        J[:, sho] = J[:, THORAX] + bones['shoulder'] * out - 0.03 * trunk
        sf, sa, el = a[f'sho_flex_{side}'], a[f'sho_abd_{side}'], a[f'elbow_{side}']
        upper = _unit(
            col(-np.cos(sf) * np.cos(sa)) * trunk + col(np.sin(sf) * np.cos(sa)) * fwd_t + col(np.sin(sa)) * out)
        bend = fwd_t + 0.5 * trunk  # the forearm folds forwards/upwards
        bend = bend - np.sum(bend * upper, -1, keepdims=True) * upper
        degenerate = np.linalg.norm(bend, axis=-1, keepdims=True) < 1e-3
        bend = _unit(np.where(degenerate, trunk - np.sum(trunk * upper, -1, keepdims=True) * upper, bend))
        fore = col(np.cos(el)) * upper + col(np.sin(el)) * bend
        J[:, elb] = J[:, sho] + bones['upper_arm'] * upper
        J[:, wri] = J[:, elb] + bones['forearm'] * fore
    J[..., 2] += ANKLE_HEIGHT - np.minimum(J[:, R_FOOT, 2], J[:, L_FOOT, 2])[:, None]  # stand on the floor
    J[..., :2] += xy[:, None]
    return J


def _subject_bones(rng: np.random.Generator) -> Dict[str, float]:
    size = rng.uniform(0.9, 1.08)
    return {k: v * size * rng.uniform(0.96, 1.04) for k, v in BONES.items()}


# ----------------------------------------------------------------------------------------------- cameras
def _project(points_world: np.ndarray, cam: dict) -> Tuple[np.ndarray, np.ndarray]:
    """Camera coordinates ``(..., 3)`` (m) and distorted pixel coordinates ``(..., 2)`` (MMPose's
    ``SimpleCamera``: ``R``/``T`` are camera-to-world, radial ``k`` and tangential ``p`` distortion)."""
    from mmpose.utils.camera import SimpleCamera
    camera = SimpleCamera(cam)
    cam3d = camera.world_to_camera(points_world)
    return cam3d, camera.camera_to_pixel(cam3d)


def _box(part: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Human3.6M-style ``center (n, 2)`` and ``scale (n,)`` (box side / 200, 1.2x the joint extent)."""
    lo, hi = part.min(axis=1), part.max(axis=1)
    return (lo + hi) / 2, (hi - lo).max(axis=1) * 1.2 / 200


# ----------------------------------------------------------------------------------------------- detections
def _episodes(rng: np.random.Generator, n: int, rate: np.ndarray, length: Tuple[int, int]) -> np.ndarray:
    """``(n,)`` bool: episodes of ``length`` frames starting with per-frame probability ``rate (n,)``."""
    on = np.zeros(n, bool)
    starts = np.flatnonzero(rng.random(n) < rate)
    for s in starts:
        on[s:s + rng.integers(*length)] = True
    return on


def _detections(rng: np.random.Generator, part: np.ndarray, cam3d: np.ndarray, scale: np.ndarray, noise_px: float,
                occlusion_rate: float, swap_rate: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """2D detections of one video seen by one camera.

    Args:
        part (np.ndarray): ``(n, 17, 2)`` true pixel coordinates.
        cam3d (np.ndarray): ``(n, 17, 3)`` camera coordinates (for self-occlusion).
        scale (np.ndarray): ``(n,)`` box scale (box side / 200).

    Returns:
        tuple: ``det (n, 17, 3)`` (x, y, score), ``spread (n, 17)`` (px), ``flags (n, 17)`` (0 clean,
        1 occluded, 2 swapped).
    """
    n, K = part.shape[:2]
    size = scale[:, None, None] * 200 / 480  # noise grows with the person's image size (480 px box = 1)
    sigma = noise_px * JOINT_NOISE[None, :, None] * size  # (n, K, 1)
    # correlated drift (AR(1), rho 0.9) + frame jitter
    drift = np.zeros((n, K, 2))
    eps = rng.normal(size=(n, K, 2))
    drift[0] = eps[0]
    for i in range(1, n):
        drift[i] = 0.9 * drift[i - 1] + np.sqrt(1 - 0.81) * eps[i]
    err = sigma * (0.8 * drift + 0.6 * rng.normal(size=(n, K, 2)))
    flags = np.zeros((n, K), np.int8)
    # occlusion: random episodes for every joint, more often for limb joints behind the torso
    torso_z = cam3d[:, [ROOT, SPINE, THORAX], 2].mean(1)
    torso_2d = part[:, [ROOT, SPINE, THORAX]].mean(1)
    shoulder_w = np.linalg.norm(part[:, L_SHO] - part[:, R_SHO], axis=-1) + 1e-6
    for j in range(K):
        rate = np.full(n, occlusion_rate)
        if j in LIMB_JOINTS:
            behind = (cam3d[:, j, 2] > torso_z + 0.08) & \
                (np.linalg.norm(part[:, j] - torso_2d, axis=-1) < 0.9 * shoulder_w + 0.1 * scale * 200)
            rate = rate + 0.06 * behind
        occluded = _episodes(rng, n, rate, (8, 40))
        if occluded.any():
            wander = np.cumsum(rng.normal(0, 4, (n, 2)), axis=0) + rng.normal(0, 25, 2)
            err[occluded, j] = wander[occluded] * size[occluded, 0]
            flags[occluded, j] = 1
    det = part + err
    # left/right swaps of limb pairs, likelier when the two joints are close in the image
    for a, b in SWAP_PAIRS:
        d = np.linalg.norm(part[:, a] - part[:, b], axis=-1) / (scale * 200)
        swapped = _episodes(rng, n, swap_rate * (0.2 + 4 * np.exp(-(d / 0.08)**2)), (5, 25))
        det[swapped, a], det[swapped, b] = det[swapped, b].copy(), det[swapped, a].copy()
        flags[swapped, a] = flags[swapped, b] = 2
    # scores and spreads as a detector would report them
    err_px = np.linalg.norm(det - part, axis=-1)
    score = np.clip(1 - 0.1 * rng.random((n, K)) - 0.15 * (JOINT_NOISE - 1), 0.05, 1)
    spread = sigma[..., 0] * np.exp(rng.normal(0, 0.25, (n, K)))
    occ = flags == 1
    score[occ] = rng.uniform(0.1, 0.45, occ.sum())
    spread[occ] = sigma[..., 0][occ] + err_px[occ] * rng.uniform(0.5, 1.5, occ.sum())
    for a, b in SWAP_PAIRS:
        sw = flags[:, a] == 2
        pair = np.linalg.norm(part[sw, a] - part[sw, b], axis=-1)
        score[sw, a] = rng.uniform(0.5, 0.85, sw.sum())
        score[sw, b] = rng.uniform(0.5, 0.85, sw.sum())
        spread[sw, a] = sigma[sw, a, 0] + 0.5 * pair * rng.uniform(0.5, 1.0, sw.sum())
        spread[sw, b] = sigma[sw, b, 0] + 0.5 * pair * rng.uniform(0.5, 1.0, sw.sum())
    return (np.concatenate([det, score[..., None]], -1).astype(np.float32), spread.astype(np.float32), flags)


# ----------------------------------------------------------------------------------------------- writer
def _load_cameras(camera_file: str) -> dict:
    if not osp.isfile(camera_file):
        raise FileNotFoundError(f'synthetic_h36m: camera file {camera_file} does not exist (copy MMPose\'s '
                                'tests/data/h36m/cameras.pkl or a Human3.6M annotation_body3d/cameras.pkl)')
    with open(camera_file, 'rb') as f:
        return pickle.load(f)


def _split(rng: np.random.Generator, cameras: dict, subjects: Sequence[str], actions: Sequence[str], subactions: int,
           frames: int, noise_px: float, occlusion_rate: float, swap_rate: float,
           camera_file: str) -> Dict[str, np.ndarray]:
    rows = {k: [] for k in ('imgname', 'center', 'scale', 'part', 'S', 'det', 'spread', 'flags')}
    for subject in subjects:
        cams = sorted((cid, cam) for (subj, cid), cam in cameras.items() if subj == subject)
        if not cams:
            raise KeyError(f'synthetic_h36m: camera file {camera_file} has no cameras of subject {subject!r} '
                           f'(keys are (subject, camera_id))')
        bones = _subject_bones(rng)
        for action in actions:
            for sub in range(subactions):
                name = action if sub == 0 else f'{action}_{sub}'
                world = _forward_kinematics(bones, *_angles(rng, action, frames))
                for cid, cam in cams:
                    cam3d, part = _project(world, cam)
                    center, scale = _box(part)
                    det, spread, flags = _detections(rng, part, cam3d, scale, noise_px, occlusion_rate, swap_rate)
                    video = f'{subject}_{name}.{cid}'
                    rows['imgname'] += [f'{subject}/{video}/{video}_{i + 1:06d}.jpg' for i in range(frames)]
                    ones = np.ones((frames, 17, 1))
                    rows['center'].append(center)
                    rows['scale'].append(scale)
                    rows['part'].append(np.concatenate([part, ones], -1))
                    rows['S'].append(np.concatenate([cam3d, ones], -1))
                    rows['det'].append(det)
                    rows['spread'].append(spread)
                    rows['flags'].append(flags)
    out = {k: np.concatenate(v) if k != 'imgname' else np.array(v) for k, v in rows.items()}
    for k in ('center', 'scale', 'part', 'S'):
        out[k] = out[k].astype(np.float64)  # as MMPose's preprocess_h36m writes them
    return out


def make_synthetic_h36m(out_dir: str, seed: int = 0, train_subjects: Sequence[str] = ('S1', 'S5', 'S6'),
                        test_subjects: Sequence[str] = ('S9', 'S11'), actions: Sequence[str] = ACTIONS,
                        train_subactions: int = 2, test_subactions: int = 1, frames: int = 100, noise_px: float = 4.0,
                        occlusion_rate: float = 0.002, swap_rate: float = 0.004, num_gmm_kernels: int = 5,
                        camera_file: str = DEFAULT_CAMERA_FILE) -> Dict[str, int]:
    """Write the synthetic Human3.6M-layout dataset to ``out_dir`` (deterministic given the arguments).

    Args:
        out_dir (str): Data root (``data_root`` of the configs).
        seed (int): Seed of everything random (bodies, motions, detector errors).
        train_subjects, test_subjects (Sequence[str]): Subjects of each split; each needs its cameras in
            ``camera_file``. Human3.6M's protocol: train S1, S5-S8, test S9, S11.
        actions (Sequence[str]): Among :data:`ACTIONS`.
        train_subactions, test_subactions (int): Clips per (subject, action).
        frames (int): Frames per clip (50 fps), seen by every camera of the subject.
        noise_px (float): Base 2D noise std (px) of a person 480 px tall (scaled with size and joint).
        occlusion_rate, swap_rate (float): Per-frame probability that an occlusion / a left-right swap
            episode starts (raised for limbs behind the torso / close pairs).
        num_gmm_kernels (int): ``M`` of the written keypoint GMM files (made from detections + spread).
        camera_file (str): Human3.6M ``cameras.pkl`` (keys ``(subject, camera_id)``).

    Returns:
        dict: Frame counts and error statistics of the 2D detections.
    """
    args = {k: (list(v) if isinstance(v, tuple) else v) for k, v in locals().items() if k != 'out_dir'}
    rng = np.random.default_rng(seed)
    cameras = _load_cameras(camera_file)
    for sub in ('annotation_body3d/fps50', 'joint_2d_det_files'):
        os.makedirs(osp.join(out_dir, sub), exist_ok=True)
    shutil.copyfile(camera_file, osp.join(out_dir, 'annotation_body3d', 'cameras.pkl'))
    summary = {}
    for split, subjects, subactions in (('train', train_subjects, train_subactions), ('test', test_subjects,
                                                                                      test_subactions)):
        data = _split(rng, cameras, subjects, actions, subactions, frames, noise_px, occlusion_rate, swap_rate,
                      camera_file)
        np.savez(
            osp.join(out_dir, 'annotation_body3d', 'fps50', f'h36m_{split}.npz'),
            **{k: data[k]
               for k in ('imgname', 'center', 'scale', 'part', 'S')})
        det_base = osp.join(out_dir, 'joint_2d_det_files', f'synthetic_det_{split}')
        np.save(f'{det_base}.npy', data['det'])
        np.save(f'{det_base}_spread.npy', data['spread'])
        np.save(f'{det_base}_flags.npy', data['flags'])
        gmm = gmm_from_keypoints(data['det'][..., :2], data['det'][..., 2], data['spread'], H36M_FLIP_INDICES,
                                 num_kernels=num_gmm_kernels)
        save_keypoint_gmm(f'{det_base}_gmm.npz', imgname=data['imgname'], gmm=gmm, keypoints=data['det'][..., :2],
                          dataset_name='h36m', source='keypoints+spread: synthetic_det_' + split)
        err = np.linalg.norm(data['det'][..., :2] - data['part'][..., :2], axis=-1)
        summary.update({
            f'{split}_frames': len(data['imgname']),
            f'{split}_det_err_px': round(float(err.mean()), 1),
            f'{split}_occluded_pct': round(100 * float((data['flags'] == 1).mean()), 1),
            f'{split}_swapped_pct': round(100 * float((data['flags'] == 2).mean()), 1),
        })
    args['camera_file'] = osp.basename(camera_file)  # no machine-specific path in the data
    with open(osp.join(out_dir, 'synthetic_h36m.json'), 'w') as f:
        json.dump(dict(generator='diffpose_mm.testing.make_synthetic_h36m', args=args, summary=summary), f, indent=2)
    return summary
