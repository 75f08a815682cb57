import numpy as np
import pytest
from mmengine.structures import InstanceData
from mmpose.datasets.datasets.utils import parse_pose_metainfo
from mmpose.registry import VISUALIZERS
from mmpose.structures import PoseDataSample
from mmpose.visualization import PoseLocalVisualizer

from diffpose_mm.datasets.posetrack_format import POSETRACK18_METAINFO_FILE
from diffpose_mm.visualization import UncertaintyPoseVisualizer
from diffpose_mm.visualization.uncertainty_visualizer import FADE_COLOR, fade_color

META = parse_pose_metainfo(dict(from_file=POSETRACK18_METAINFO_FILE))
_count = [0]


def build(cls=UncertaintyPoseVisualizer, **kwargs):
    _count[0] += 1  # MMEngine visualisers are named singletons
    vis = cls(name=f'vis{_count[0]}', radius=2, **kwargs)
    vis.set_dataset_meta(META)
    return vis


def sample(spread0=12., score1=0.5, track_ids=None):
    """Two people on a 200x160 image: person 0's nose at (100, 80) with spread ``spread0``; person 1 with score
    ``score1`` everywhere. Other keypoints far in a corner with score 0 (not drawn)."""
    kpts = np.full((2, 17, 2), 5.)
    kpts[0, 0] = (100, 80)
    kpts[1, 0] = (40, 40)
    scores = np.zeros((2, 17))
    scores[0, 0], scores[1, 0] = 1., score1
    spread = np.zeros((2, 17))
    spread[0, 0], spread[1, 0] = spread0, 6.
    # keypoints_visible = scores, as MMPose's TopdownPoseEstimator sets it for predictions
    inst = InstanceData(keypoints=kpts, keypoint_scores=scores, keypoints_visible=scores, keypoint_spread=spread,
                        bboxes=np.array([[80., 60., 120., 120.], [20., 20., 60., 90.]]))
    if track_ids is not None:
        inst.track_ids = np.array(track_ids)
    ds = PoseDataSample()
    ds.pred_instances = inst
    return ds


def draw(vis, ds, **kwargs):
    return vis.add_datasample('x', np.zeros((160, 200, 3), np.uint8), ds, draw_gt=False, kpt_thr=0.3, **kwargs)


def test_fade_color():
    assert fade_color((255, 0, 0), 1.) == (255, 0, 0)
    assert fade_color((255, 0, 0), 0.) == tuple(int(v) for v in FADE_COLOR)
    assert fade_color((200, 100, 0), 0.5) == (164, 114, 64) and fade_color((200, 100, 0), 7) == (200, 100, 0)


def test_spread_ring_radius_and_score_fading():
    vis = build(show_legend=False)
    img = draw(vis, sample(spread0=12., score1=0.5))
    color = tuple(int(c) for c in META['keypoint_colors'][0])  # the nose's colour
    ring = img[80, 100 + 12].astype(int)  # on the ring of radius 12, right of the nose
    np.testing.assert_allclose(ring, color, atol=40)  # anti-aliased ring in the keypoint's colour
    assert img[80, 100 + 18].sum() == 0  # outside the ring: untouched
    inside = img[80, 100 + 8].astype(int)  # the translucent disc: a quarter of the colour
    np.testing.assert_allclose(inside, np.array(color) * vis.disc_alpha, atol=3)
    # person 1 (score 0.5 >= kpt_thr): its ring is in the faded colour, its dot half opaque (under its disc)
    faded = np.array(fade_color(color, 0.5))
    np.testing.assert_allclose(img[40, 40 + 6].astype(int), faded, atol=40)
    np.testing.assert_allclose(img[40, 40].astype(int),
                               np.array(color) * 0.5 * (1 - vis.disc_alpha) + faded * vis.disc_alpha, atol=3)
    assert img[80, 100].astype(int).tolist() == list(color)  # score 1: fully opaque dot
    # a wider spread draws a wider ring; spread below a pixel draws none
    wide = draw(vis, sample(spread0=20.))
    assert wide[80, 100 + 20].sum() > 0 and wide[80, 100 + 12].sum() < img[80, 100 + 12].sum()
    none = draw(vis, sample(spread0=0.4))
    assert none[80, 100 + 8].sum() == 0


def test_switch_off_gives_mmposes_drawing_and_legend_and_track_ids():
    plain = draw(build(PoseLocalVisualizer), sample())
    off = draw(build(show_uncertainty=False), sample())
    np.testing.assert_array_equal(off, plain)
    on = draw(build(), sample())
    assert on[:15, :60].sum() > 0 and plain[:15, :60].sum() == 0  # the legend, top left
    no_legend = draw(build(show_legend=False), sample())
    assert no_legend[:15, :60].sum() == 0
    with_ids = draw(build(show_legend=False), sample(track_ids=[3, 4]))
    assert with_ids[45:58, 80:110].sum() > 0 and no_legend[45:58, 80:110].sum() == 0  # '#3' above box 0
    without_spread = sample()
    del without_spread.pred_instances.keypoint_spread  # e.g. a HeatmapHead model: MMPose's drawing
    np.testing.assert_array_equal(draw(build(), without_spread), plain)


def test_registered_in_mmposes_visualizers():
    vis = VISUALIZERS.build(
        dict(type='UncertaintyPoseVisualizer', name='registry_test', show_legend=False, disc_alpha=0.5))
    assert isinstance(vis, UncertaintyPoseVisualizer) and isinstance(vis, PoseLocalVisualizer)
    assert vis.disc_alpha == 0.5 and not vis.show_legend
    with pytest.raises(ValueError, match='disc_alpha must be in'):
        UncertaintyPoseVisualizer(name='bad_alpha', disc_alpha=2.)
