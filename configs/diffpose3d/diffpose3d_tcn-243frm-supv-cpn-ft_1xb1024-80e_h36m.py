# DiffPose-3D, video: 243-frame windows of CPN 2D detections on Human3.6M (paper Table 2), every frame a target.
# The frame config with VideoPose3D's 243-frame TCN (MMPose's video-pose-lift_tcn-243frm config: kernels 3^5,
# strided convolutions) as the context encoder; the authors use a pre-trained MixSTE there, which MMPose does not
# ship (pass a trained encoder with model.backbone.init_cfg=dict(type='Pretrained', checkpoint=...)).
_base_ = ['./diffpose3d_tcn-1frm-supv-cpn-ft_1xb1024-80e_h36m.py']

model = dict(backbone=dict(kernel_sizes=(3, 3, 3, 3, 3), num_blocks=4, use_stride_conv=True))
seq = dict(seq_len=243, causal=False, pad_video_seq=True)
train_dataloader = dict(dataset=seq)
val_dataloader = dict(dataset=seq)
test_dataloader = val_dataloader
