# Shared by the PoseTrack configs: MMPose's runtime, the DiffPose video model except the backbone, and the
# PoseTrack18-layout data (δ = 2: 5-frame clips; GT boxes for training, detections >= 0.4 for validation).
_base_ = ['mmpose::_base_/default_runtime.py']
custom_imports = dict(imports=['diffpose_mm'], allow_failed_imports=False)
default_hooks = dict(checkpoint=dict(save_best='posetrack/Total', rule='greater', max_keep_ckpts=1))
custom_hooks = [dict(type='SyncBuffersHook'), dict(type='StopOnNonFiniteLossHook')]  # stop at a NaN loss

codec = dict(type='UDPHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2)  # 4x the 16x12 ViT map
num_adjacent = 2  # δ; also set in the datasets, where tools/analysis/run_ablations.py changes it

model = dict(
    type='VideoTopdownPoseEstimator',
    data_preprocessor=dict(type='VideoPoseDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    neck=dict(type='STRLNeck', num_frames=2 * num_adjacent + 1),
    head=dict(
        type='DiffPoseHead',
        out_channels=17,
        # The paper's signal space (after DiffusionDet). signal_scale=0.1 with input_mode='normalize' tied it on
        # the tuning data and is ~1 AP better over all synthetic data sets, but makes N, steps and the spread
        # meaningless (README, "Diffusion settings" and "Verdict").
        diffusion=dict(num_timesteps=1000, signal_scale=2.0, input_mode='clamp'),
        # Not the paper's (sum fusion, no auxiliary loss): concatenating the three scales (Table 5 ★) and
        # supervising the full-resolution feature with HeatmapHead's target were +1.4 AP over the paper's head
        # over six paired seeds on two data sets (docs/diffusion_experiments.md, "Deep supervision of ...").
        scale_fusion='concat',
        aux_loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=codec),
    # N noise groups x DDIM steps: test-time options (`--cfg-options model.test_cfg.sampling_steps=1`)
    test_cfg=dict(flip_test=True, num_noise_groups=10, sampling_steps=4, seed=0))

data_root = 'data/posetrack18/'
train_pipeline = [
    dict(type='LoadVideoFrames'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip'),
    dict(type='RandomHalfBody'),
    dict(type='RandomBBoxTransform', rotate_factor=45, scale_factor=(0.65, 1.35)),
    dict(type='TopdownAffine', input_size=codec['input_size'], use_udp=True),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [
    dict(type='LoadVideoFrames'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size'], use_udp=True),
    dict(type='PackPoseInputs')
]
train_dataloader = dict(
    batch_size=16, num_workers=4, persistent_workers=True, sampler=dict(type='DefaultSampler'),
    dataset=dict(type='PoseTrackVideoDataset', data_root=data_root, ann_file='annotations/posetrack18_train.json',
                 num_adjacent=num_adjacent, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16, num_workers=4, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=False,
                                                                        round_up=False),
    dataset=dict(type='PoseTrackVideoDataset', data_root=data_root, ann_file='annotations/posetrack18_val.json',
                 bbox_file=data_root + 'annotations/posetrack18_val_human_detections.json',
                 filter_cfg=dict(bbox_score_thr=0.4), num_adjacent=num_adjacent, test_mode=True, pipeline=val_pipeline))
test_dataloader = val_dataloader
# PoseTrack per-joint AP (poseval protocol, GT folder annotations/val/) and COCO AP
val_evaluator = dict(type='PoseTrackMetric', ann_file=data_root + 'annotations/posetrack18_val.json')
test_evaluator = val_evaluator
