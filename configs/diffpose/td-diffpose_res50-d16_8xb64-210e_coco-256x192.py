# Mixing example: DiffPoseHead in place of HeatmapHead in MMPose's single-frame ResNet-50 COCO config. The head
# predicts heatmaps 4x its input, so the last stage is dilated, not strided (16x12 features for 64x48 heatmaps).
# Nothing is downloaded; for ImageNet weights (same shapes) pass `--cfg-options
# model.backbone.init_cfg.type=Pretrained model.backbone.init_cfg.checkpoint=<torchvision resnet50.pth>`.
_base_ = ['mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py']
custom_imports = dict(imports=['diffpose_mm'], allow_failed_imports=False)
custom_hooks = [dict(type='SyncBuffersHook'), dict(type='StopOnNonFiniteLossHook')]  # stop at a NaN loss

model = dict(
    backbone=dict(_delete_=True, type='ResNet', depth=50, strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2)),
    # the diffusion settings of _base_/diffpose_posetrack_video.py (the paper's signal space, concatenation
    # fusion and the auxiliary loss on the full-resolution feature)
    head=dict(_delete_=True, type='DiffPoseHead', in_channels=2048, out_channels=17, decoder=_base_.codec,
              diffusion=dict(num_timesteps=1000, signal_scale=2.0, input_mode='clamp'), scale_fusion='concat',
              aux_loss=dict(type='KeypointMSELoss', use_target_weight=True)),
    test_cfg=dict(num_noise_groups=10, sampling_steps=4, seed=0))
