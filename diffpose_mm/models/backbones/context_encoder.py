"""DiffPose-3D context encoder: MMPose's temporal convolution network over the 2D keypoints, read out per joint
as the denoiser's condition and as the initial 3D pose of the pose-specific initialisation."""
from typing import NamedTuple, Optional, Sequence

import torch
from mmpose.models.backbones import TCN
from mmpose.models.backbones.base_backbone import BaseBackbone
from mmpose.registry import MODELS
from mmpose.utils.typing import OptConfigType
from torch import Tensor, nn

# Per-joint mean and std (m) of Human3.6M's root-relative 3D poses in camera coordinates (y down), the statistics
# in MMPose's SimpleBaseline3D config (``joint3d_rel_stats.pkl`` of the training split), root row prepended. The
# encoder predicts ``mean + std * output``: an upright person from the start, every coordinate at unit scale.
H36M_POSE_MEAN = ((0., 0., 0.), (-2.55652589e-04, -7.11960570e-03, -9.81433052e-04),
                  (-5.65463051e-03, 3.19636009e-01, 7.19329269e-02), (-1.01705840e-02, 6.91147892e-01, 1.55352986e-01),
                  (2.55651315e-04, 7.11954606e-03, 9.81423866e-04), (-5.09729780e-03, 3.27040413e-01, 7.22258095e-02),
                  (-9.99656606e-03, 7.08277383e-01, 1.58016408e-01), (2.90583676e-03, -2.11363307e-01, -4.74210915e-02),
                  (5.67537804e-03, -4.35088906e-01,
                   -9.76974016e-02), (5.93884964e-03, -4.91891970e-01,
                                      -1.10666618e-01), (7.37352083e-03, -5.83948619e-01, -1.31171400e-01),
                  (5.41920653e-03, -3.83931702e-01,
                   -8.68145417e-02), (2.95964662e-03, -1.87567488e-01,
                                      -4.34536934e-02), (1.26585822e-03, -1.20170579e-01, -2.82526049e-02),
                  (4.67186639e-03, -3.83644089e-01,
                   -8.55125784e-02), (1.67648571e-03, -1.97007177e-01,
                                      -4.31368364e-02), (8.70569015e-04, -1.68664569e-01, -3.73902498e-02))
H36M_POSE_STD = ((1e-3, 1e-3, 1e-3), (0.11072244, 0.02238818, 0.07246294), (0.15856311, 0.18933832, 0.20880479),
                 (0.19179935, 0.24320062, 0.24756193), (0.11072181, 0.02238805, 0.07246253),
                 (0.15880454, 0.19977188, 0.2147063), (0.18001944, 0.25052739, 0.24853247),
                 (0.05210694, 0.05211406, 0.06908241), (0.09515367, 0.10133032, 0.12899733), (0.11742458, 0.12648469,
                                                                                              0.16465091),
                 (0.12360297, 0.13085539, 0.16433336), (0.14602232, 0.09707956,
                                                        0.13952731), (0.24347532, 0.12982249,
                                                                      0.20230181), (0.2446877, 0.21501816, 0.23938235),
                 (0.13876084, 0.1008926, 0.1424411), (0.23687529, 0.14491219, 0.20980829), (0.24400695, 0.23975028,
                                                                                            0.25520584))


class LiftingContext(NamedTuple):
    """What :class:`DiffPoseContextEncoder` hands to ``DiffPose3DHead`` (``PoseLifter`` passes it unchanged).

    Fields (``B`` samples, ``K`` joints):
        context (Tensor): ``(B, K, C)`` per-joint context feature ``f_ST``.
        init_pose (Tensor): ``(B, K, 3)`` initial root-relative 3D pose (metres, the lifting target's units).
        init_log_sigma (Tensor): ``(B, K, 3)`` log of its predicted per-coordinate error scale.
        keypoints (Tensor): ``(B, K, 2)`` 2D input of the target frame (codec units).
    """
    context: Tensor
    init_pose: Tensor
    init_log_sigma: Tensor
    keypoints: Tensor


@MODELS.register_module()
class DiffPoseContextEncoder(BaseBackbone):
    """Context encoder ``φ_ST`` of DiffPose-3D (Gong et al., CVPR 2023) on MMPose's ``TCN`` (VideoPose3D).

    The 2D keypoints of a window of ``T`` frames go through ``TCN`` (kernel sizes ``(1, 1, 1)``: the frame
    variant, SimpleBaseline3D's fully connected network; ``(3, 3, 3)`` / ``(3, 3, 3, 3, 3)``: the 27 / 243-frame
    sequence variants of VideoPose3D); the feature at the target frame is read out by linear layers as a
    per-joint context, an initial 3D pose and its log error scale (trained by ``DiffPose3DHead``). The
    authors use a pre-trained GraFormer (frame) or MixSTE (video) here; MMPose ships neither, its TCN is the
    closest stock network (load a trained VideoPose3D checkpoint with ``init_cfg`` if you have one).

    Args:
        num_keypoints (int): ``K``. Defaults to 17.
        in_channels (int): Channels per joint of the input (2 for x, y; 3 with ``concat_vis``). Defaults to 2.
        context_channels (int): ``C`` of the per-joint context. Defaults to 64.
        stem_channels (int): Width of the TCN. Defaults to 1024.
        num_blocks (int): TCN residual blocks (``len(kernel_sizes) - 1``). Defaults to 2.
        kernel_sizes (Sequence[int]): TCN kernel sizes; their product is the receptive field in frames.
            Defaults to ``(1, 1, 1)`` (one frame).
        dropout (float): TCN dropout. Defaults to 0.25.
        causal (bool): The target frame is the last of the window (else the middle, as ``Human36mDataset``
            with ``causal=False``). Defaults to False.
        use_stride_conv (bool): TCN's strided convolutions (trains faster; ``T`` must equal the receptive
            field). Defaults to False.
        root_relative (bool): Feed the joints relative to the root joint (index 0), the root itself at its
            image position: the pose's shape does not move with the person in the image. Defaults to True.
        pose_mean, pose_std (Sequence, optional): ``(K, 3)`` statistics of the root-relative 3D pose; the initial
            pose is ``pose_mean + pose_std * output`` (a mean offset the output layer would learn only slowly with
            Adam, and unit-scale outputs: 101 -> 76 mm MPJPE of the initial pose after 10 epochs on the synthetic
            tuning data). Defaults to Human3.6M's (:data:`H36M_POSE_MEAN`, :data:`H36M_POSE_STD`) for 17 joints,
            zeros and ones otherwise.
        init_cfg (dict, optional): Initialisation config.

    Shapes:
        inputs ``(B, T, K, C)`` (``VideoPoseLifting(reshape_keypoints=False)``) or ``(B, K * C, T)``
        (``reshape_keypoints=True``) -> :class:`LiftingContext`.
    """

    def __init__(self, num_keypoints: int = 17, in_channels: int = 2, context_channels: int = 64,
                 stem_channels: int = 1024, num_blocks: int = 2, kernel_sizes: Sequence[int] = (1, 1, 1),
                 dropout: float = 0.25, causal: bool = False, use_stride_conv: bool = False, root_relative: bool = True,
                 pose_mean: Optional[Sequence] = None, pose_std: Optional[Sequence] = None,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg)
        if num_blocks < 1:
            raise ValueError(f'DiffPoseContextEncoder: num_blocks must be >= 1, got {num_blocks}')
        self.num_keypoints = num_keypoints
        self.in_channels = in_channels
        self.context_channels = context_channels
        self.causal = causal  # read by PoseLifter.causal
        self.root_relative = root_relative
        h36m = num_keypoints == len(H36M_POSE_MEAN)
        if pose_mean is None:
            pose_mean = H36M_POSE_MEAN if h36m else [[0.] * 3] * num_keypoints
        if pose_std is None:
            pose_std = H36M_POSE_STD if h36m else [[1.] * 3] * num_keypoints
        for name, value in (('pose_mean', pose_mean), ('pose_std', pose_std)):
            value = torch.as_tensor(value, dtype=torch.float32)
            if value.shape != (num_keypoints, 3):
                raise ValueError(
                    f'DiffPoseContextEncoder: {name} must be ({num_keypoints}, 3), got {tuple(value.shape)}')
            self.register_buffer(name, value, persistent=False)
        self.receptive_field = 1
        for k in kernel_sizes:
            self.receptive_field *= k
        self.tcn = TCN(in_channels=num_keypoints * in_channels, stem_channels=stem_channels, num_blocks=num_blocks,
                       kernel_sizes=tuple(kernel_sizes), dropout=dropout, causal=causal,
                       use_stride_conv=use_stride_conv)
        self.context_out = nn.Linear(stem_channels, num_keypoints * context_channels)
        self.pose_out = nn.Linear(stem_channels, num_keypoints * 3)
        self.log_sigma_out = nn.Linear(stem_channels, num_keypoints * 3)
        nn.init.zeros_(self.log_sigma_out.weight)
        nn.init.constant_(self.log_sigma_out.bias, -2.3)  # ~0.1 m until trained

    def _as_sequence(self, inputs: Tensor) -> Tensor:
        """``(B, T, K, C)`` from either input layout, with errors naming the expected shape."""
        K, C = self.num_keypoints, self.in_channels
        if inputs.dim() == 3 and inputs.shape[1] == K * C:
            return inputs.permute(0, 2, 1).reshape(inputs.shape[0], inputs.shape[2], K, C)
        if inputs.dim() == 4 and inputs.shape[2:] == (K, C):
            return inputs
        raise ValueError(f'DiffPoseContextEncoder expects 2D keypoints (B, T, {K}, {C}) or (B, {K * C}, T) '
                         f'(num_keypoints={K}, in_channels={C}), got {tuple(inputs.shape)}; check the joint count of '
                         'keypoint_2d_det_file / the annotation file and the codec (concat_vis adds a channel)')

    def forward(self, inputs: Tensor) -> LiftingContext:
        seq = self._as_sequence(inputs)
        B, T, K, C = seq.shape
        if T < self.receptive_field:
            raise ValueError(f'DiffPoseContextEncoder: {T} input frames, the TCN needs {self.receptive_field} '
                             '(the product of kernel_sizes; set the dataset seq_len accordingly)')
        x = seq
        if self.root_relative:
            rel = x[:, :, 1:, :2] - x[:, :, :1, :2]  # x, y relative to the root (joint 0); other channels as they are
            x = torch.cat([x[:, :, :1], torch.cat([rel, x[:, :, 1:, 2:]], -1)], dim=2)
        feat = self.tcn(x.reshape(B, T, K * C).permute(0, 2, 1))[-1]  # (B, stem_channels, T_out)
        # the output position of the target frame (one position when T is the receptive field)
        feat = feat[..., -1] if self.causal else feat[..., feat.shape[-1] // 2]
        target = T - 1 if self.causal else T // 2
        return LiftingContext(
            context=self.context_out(feat).reshape(B, K, self.context_channels),
            init_pose=self.pose_mean + self.pose_std * self.pose_out(feat).reshape(B, K, 3),
            init_log_sigma=self.log_sigma_out(feat).reshape(B, K, 3),
            keypoints=seq[:, target, :, :2].clone())  # a copy: PoseLifter's flip test edits inputs in place
