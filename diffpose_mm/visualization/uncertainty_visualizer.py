"""MMPose's pose visualiser with each keypoint's uncertainty on screen."""
from typing import Sequence, Tuple

import cv2
import numpy as np
from mmengine.structures import InstanceData
from mmpose.registry import VISUALIZERS
from mmpose.visualization import PoseLocalVisualizer

# Colour that low-score keypoints fade towards (RGB grey): a faded ring stays visible on dark and light images.
FADE_COLOR = np.array([128., 128., 128.])


def fade_color(color: Sequence[float], score: float) -> Tuple[int, int, int]:
    """``score * color + (1 - score) * grey`` with the score clipped to ``[0, 1]``, as integer RGB."""
    s = float(np.clip(score, 0., 1.))
    return tuple(int(round(v)) for v in s * np.asarray(color, dtype=np.float64)[:3] + (1 - s) * FADE_COLOR)


@VISUALIZERS.register_module()
class UncertaintyPoseVisualizer(PoseLocalVisualizer):
    """:class:`mmpose.visualization.PoseLocalVisualizer` that also shows how sure the model is of each keypoint.

    For predictions that carry ``keypoint_spread`` (``DiffPoseHead``: the RMS distance, in image pixels, of the
    ``N`` noise groups' decoded locations from their mean), every keypoint above ``kpt_thr`` gets

    - a ring of radius ``keypoint_spread`` (pixels) around it, filled with a translucent disc, so a wide ring
      means the groups disagreed about the location;
    - its colour faded with its score: the dot is drawn with opacity ``score`` (MMPose's
      ``show_keypoint_weight``) and the ring in ``score * colour + (1 - score) * grey``.

    A legend in the top-left corner explains both; with ``track_ids`` in the instances (video inference) each
    person is labelled ``#id`` at its box. ``show_uncertainty=False`` (or predictions without
    ``keypoint_spread``) draws exactly what :class:`PoseLocalVisualizer` draws.

    Args:
        name (str): Instance name (MMEngine's visualisers are named singletons). Defaults to ``'visualizer'``.
        show_uncertainty (bool): Draw spread rings, score fading and the legend. Defaults to True.
        show_legend (bool): Draw the legend (only with ``show_uncertainty``). Defaults to True.
        disc_alpha (float): Opacity of the filled disc inside each ring. Defaults to 0.25.
        **kwargs: Arguments of :class:`PoseLocalVisualizer` (``radius``, ``line_width``, ``kpt_color``, ...).
    """

    def __init__(self, name: str = 'visualizer', show_uncertainty: bool = True, show_legend: bool = True,
                 disc_alpha: float = 0.25, **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        if not 0 <= disc_alpha <= 1:
            raise ValueError(f'UncertaintyPoseVisualizer: disc_alpha must be in [0, 1], got {disc_alpha}')
        self.show_uncertainty = show_uncertainty
        self.show_legend = show_legend
        self.disc_alpha = disc_alpha

    def _draw_instances_kpts(self, image: np.ndarray, instances: InstanceData, kpt_thr: float = 0.3,
                             show_kpt_idx: bool = False, skeleton_style: str = 'mmpose') -> np.ndarray:
        if not self.show_uncertainty or 'keypoint_spread' not in instances or 'keypoints' not in instances:
            return super()._draw_instances_kpts(image, instances, kpt_thr, show_kpt_idx, skeleton_style)
        scores = np.asarray(instances.get('keypoint_scores', np.ones(instances.keypoints.shape[:2])))
        spreads = np.asarray(instances.keypoint_spread, dtype=np.float64)
        # the dots fade with the score: MMPose's show_keypoint_weight with the scores as weights
        faded = instances.clone()
        faded.keypoints_visible = scores
        show_weight, self.show_keypoint_weight = self.show_keypoint_weight, True
        try:
            drawn = super()._draw_instances_kpts(image, faded, kpt_thr, show_kpt_idx, skeleton_style)
        finally:
            self.show_keypoint_weight = show_weight
        drawn = self._draw_spread_rings(drawn, np.asarray(instances.keypoints), scores, spreads, kpt_thr)
        if 'track_ids' in instances and 'bboxes' in instances:
            drawn = self._draw_track_ids(drawn, np.asarray(instances.bboxes), np.asarray(instances.track_ids))
        if self.show_legend:
            drawn = self._draw_legend(drawn)
        self.set_image(drawn)
        return drawn

    def _keypoint_colors(self, num_keypoints: int) -> list:
        color = self.kpt_color
        if color is None or isinstance(color, str):
            color = 'red' if color is None else color
            from mmengine.visualization.utils import color_val_matplotlib
            rgb = tuple(int(255 * c) for c in color_val_matplotlib(color)[:3])
            return [rgb] * num_keypoints
        return [tuple(int(c) for c in color[k]) for k in range(num_keypoints)]

    def _draw_spread_rings(self, image: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, spreads: np.ndarray,
                           kpt_thr: float) -> np.ndarray:
        """Rings of radius ``spreads (P, K)`` around ``keypoints (P, K, 2)`` with score ``>= kpt_thr``, on the RGB
        ``image``; discs blended in once per image."""
        image = np.ascontiguousarray(image)
        discs = image.copy()
        rings = []
        colors = self._keypoint_colors(keypoints.shape[1])
        for kpts, kpt_scores, kpt_spreads in zip(keypoints, scores, spreads):
            for k, ((x, y), score, spread) in enumerate(zip(kpts, kpt_scores, kpt_spreads)):
                radius = int(round(float(spread)))
                if score < kpt_thr or radius < 1 or not np.isfinite([x, y]).all():
                    continue
                color = fade_color(colors[k], score)
                center = (int(round(float(x))), int(round(float(y))))
                cv2.circle(discs, center, radius, color, -1, cv2.LINE_AA)
                rings.append((center, radius, color))
        if rings:
            image = cv2.addWeighted(image, 1 - self.disc_alpha, discs, self.disc_alpha, 0)
            for center, radius, color in rings:
                cv2.circle(image, center, radius, color, 1, cv2.LINE_AA)
        return image

    def _text_scale(self, image: np.ndarray) -> Tuple[float, int]:
        scale = max(0.35, image.shape[0] / 700)
        return scale, max(1, int(round(scale * 1.5)))

    def _draw_track_ids(self, image: np.ndarray, bboxes: np.ndarray, track_ids: np.ndarray) -> np.ndarray:
        scale, thickness = self._text_scale(image)
        image = np.ascontiguousarray(image)
        for (x1, y1, _, _), track_id in zip(bboxes.reshape(-1, 4), track_ids.reshape(-1)):
            org = (int(max(x1, 0)), int(max(y1 - 4, 12 * scale)))
            cv2.putText(image, f'#{int(track_id)}', org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                        thickness + 1, cv2.LINE_AA)
            cv2.putText(image, f'#{int(track_id)}', org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness,
                        cv2.LINE_AA)
        return image

    def _draw_legend(self, image: np.ndarray) -> np.ndarray:
        """A dark box in the top-left corner: a ringed keypoint ("ring = spread") and a faded one ("low score")."""
        scale, thickness = self._text_scale(image)
        line = int(22 * scale) + 4
        lines = ['ring radius = keypoint spread', 'faded colour = low score']
        width = max(cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)[0][0] for t in lines)
        pad, icon = 4, line
        box = (0, 0, min(image.shape[1], width + icon + 3 * pad), min(image.shape[0], len(lines) * line + 2 * pad))
        image = np.ascontiguousarray(image)
        overlay = image.copy()
        cv2.rectangle(overlay, box[:2], box[2:], (0, 0, 0), -1)
        image = cv2.addWeighted(image, 0.4, overlay, 0.6, 0)
        color = self._keypoint_colors(1)[0]
        cx, cy = pad + icon // 2, pad + line // 2
        cv2.circle(image, (cx, cy), max(2, icon // 2 - 1), color, 1, cv2.LINE_AA)
        cv2.circle(image, (cx, cy), max(1, icon // 6), color, -1, cv2.LINE_AA)
        cv2.circle(image, (cx, cy + line), max(1, icon // 6), fade_color(color, 0.3), -1, cv2.LINE_AA)
        for i, text in enumerate(lines):
            cv2.putText(image, text, (icon + 2 * pad, pad + (i + 1) * line - line // 4), cv2.FONT_HERSHEY_SIMPLEX,
                        scale, (255, 255, 255), thickness, cv2.LINE_AA)
        return image
