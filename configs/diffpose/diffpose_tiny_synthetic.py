# Tiny DiffPose on the bundled synthetic PoseTrack18-layout videos: learns on 2 CPU cores in a few minutes.
# Same pipeline as the paper configs (5-frame clips -> per-frame backbone -> STRLNeck -> DiffPoseHead with
# N noise groups x DDIM steps), with a small CNN backbone and a 128x96 input.
#
#   python tools/dataset_converters/make_synthetic_posetrack.py --out data/synthetic_posetrack18 --seed 0
#   mim train mmpose configs/diffpose/diffpose_tiny_synthetic.py --work-dir work_dirs/diffpose_tiny_synthetic
#   mim test mmpose configs/diffpose/diffpose_tiny_synthetic.py --checkpoint work_dirs/.../epoch_40.pth
# Sampling settings are test-time options (no retraining), e.g.
#   --cfg-options model.test_cfg.num_noise_groups=1 model.test_cfg.sampling_steps=1
custom_imports = dict(imports=['diffpose_mm'], allow_failed_imports=False)
default_scope = 'mmpose'

# runtime: 18 epochs of 25 iterations (450 iterations, batch 16), validation at the end
max_epochs = 18
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()
randomness = dict(seed=0)

optim_wrapper = dict(optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4), clip_grad=dict(max_norm=1.))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=50, start_factor=0.01, by_epoch=False),
    dict(type='MultiStepLR', begin=0, end=max_epochs, milestones=[14, 16], gamma=0.1, by_epoch=True),
]
auto_scale_lr = dict(base_batch_size=16)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=max_epochs, save_best='posetrack/Total', rule='greater',
                    max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='PoseVisualizationHook', enable=False))  # `--show-dir` turns it on
# Sampling settings live in model.test_cfg (change them with --cfg-options model.test_cfg.sampling_steps=1).
# For the paper's Tables 6/7 in one `mim test` run add
#   custom_hooks = [dict(type='DiffusionSamplingHook', seed=0, sweep=[(10, 4), (5, 4), (1, 4), (10, 2), (10, 1)])]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='PoseLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=10, by_epoch=True, num_digits=6)
log_level = 'INFO'
load_from = None
resume = False
backend_args = dict(backend='local')

# codec: heatmaps are 4x the backbone feature map (128x96 input, stride 16 -> 8x6 features -> 32x24 heatmaps)
codec = dict(type='MSRAHeatmap', input_size=(96, 128), heatmap_size=(24, 32), sigma=2)
num_adjacent = 2  # δ: clips of 2δ+1 = 5 frames

model = dict(
    type='VideoTopdownPoseEstimator',
    data_preprocessor=dict(
        type='VideoPoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='ResNet',
        depth=18,
        stem_channels=16,
        base_channels=16,
        num_stages=3,
        strides=(1, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(2, )),  # stride 16, 64 channels
    neck=dict(
        type='STRLNeck',
        in_channels=64,
        num_frames=2 * num_adjacent + 1,
        feat_size=(8, 6),
        embed_dims=64,
        num_layers=2,
        num_heads=4,
        mlp_ratio=2.),
    head=dict(
        type='DiffPoseHead',
        in_channels=64,
        out_channels=17,
        feat_channels=(64, 32, 32),
        heatmap_channels=32,
        time_embed_dims=32,
        num_heads=4,
        num_refine_layers=1,
        num_interact_layers=1,
        # Chosen on tuning data (README, "Diffusion settings"): the paper / DiffusionDet use signal_scale=2.0
        # with clamping, which leaves the GT heatmap readable in most training draws. On the held-out default
        # data (3 seeds) 0.1 with a normalised input is +0.9 ± 1.3 AP over that and ties with HeatmapHead.
        # `tools/analysis/run_ablations.py --only paper` trains the paper's settings (Algorithm 1).
        diffusion=dict(num_timesteps=1000, cosine_s=0.008, signal_scale=0.1, input_mode='normalize'),
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=codec),
    test_cfg=dict(
        flip_test=True,
        flip_mode='heatmap',
        shift_heatmap=True,  # MSRAHeatmap: flipped heatmaps are off by one pixel
        num_noise_groups=10,
        sampling_steps=4,
        eta=1.0,
        seed=0))

# data
dataset_type = 'PoseTrackVideoDataset'
data_root = 'data/synthetic_posetrack18/'
train_pipeline = [
    dict(type='LoadVideoFrames'),
    dict(type='GetBBoxCenterScale', padding=1.25),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomHalfBody'),
    dict(type='RandomBBoxTransform', rotate_factor=30, scale_factor=(0.75, 1.25)),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='LoadVideoFrames'),
    dict(type='GetBBoxCenterScale', padding=1.25),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode='topdown',
        ann_file='annotations/posetrack18_train.json',
        data_prefix=dict(img=''),
        num_adjacent=num_adjacent,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode='topdown',
        ann_file='annotations/posetrack18_val.json',
        data_prefix=dict(img=''),
        num_adjacent=num_adjacent,
        bbox_file=data_root + 'annotations/posetrack18_val_human_detections.json',
        filter_cfg=dict(bbox_score_thr=0.4),
        test_mode=True,
        pipeline=val_pipeline))
test_dataloader = val_dataloader

# PoseTrack per-joint AP (poseval protocol; GT folder annotations/val/) and COCO AP
val_evaluator = dict(type='PoseTrackMetric', ann_file=data_root + 'annotations/posetrack18_val.json')
test_evaluator = val_evaluator
