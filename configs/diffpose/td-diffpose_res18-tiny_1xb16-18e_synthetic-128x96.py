# Tiny DiffPose on the bundled synthetic PoseTrack18-layout videos, trained on 2 CPU cores in minutes: the paper
# configs' model and data (5-frame clips -> backbone -> STRLNeck -> DiffPoseHead) with a small CNN and 128x96 input.
#   python tools/dataset_converters/make_synthetic_posetrack.py --out data/synthetic_posetrack18 --seed 0
#   python tools/train.py configs/diffpose/td-diffpose_res18-tiny_1xb16-18e_synthetic-128x96.py
# Paper Tables 6/7 in one test run: --cfg-options test_cfg.type=SamplingSweepTestLoop \
#     "test_cfg.sweep=[(10,4),(5,4),(1,4),(10,2),(10,1)]"
_base_ = ['./_base_/diffpose_posetrack_video.py']

max_epochs = 18  # of 25 iterations (batch 16), validation at the end
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
randomness = dict(seed=0)
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4), clip_grad=dict(max_norm=1.))
param_scheduler = [
    dict(type='LinearLR', end=50, start_factor=0.01, by_epoch=False),
    dict(type='MultiStepLR', end=max_epochs, milestones=[14, 16]),
]
auto_scale_lr = dict(base_batch_size=16)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=max_epochs))
log_processor = dict(window_size=10)

# 128x96 input, stride 16 -> 8x6 features -> 32x24 heatmaps (DiffPoseHead predicts 4x its input)
codec = dict(type='MSRAHeatmap', input_size=(96, 128), heatmap_size=(24, 32), sigma=2)
model = dict(
    backbone=dict(type='ResNet', depth=18, stem_channels=16, base_channels=16, num_stages=3, strides=(1, 2, 2),
                  dilations=(1, 1, 1), out_indices=(2, )),  # stride 16, 64 channels
    neck=dict(in_channels=64, feat_size=(8, 6), embed_dims=64, num_layers=2, num_heads=4, mlp_ratio=2.),
    head=dict(in_channels=64, feat_channels=(64, 32, 32), heatmap_channels=32, time_embed_dims=32, num_heads=4,
              num_interact_layers=1, decoder=codec),
    test_cfg=dict(shift_heatmap=True))  # MSRAHeatmap: flipped heatmaps are off by one pixel

data_root = 'data/synthetic_posetrack18/'
train_pipeline = [
    dict(type='LoadVideoFrames'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip'),
    dict(type='RandomHalfBody'),
    dict(type='RandomBBoxTransform', rotate_factor=30, scale_factor=(0.75, 1.25)),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [
    dict(type='LoadVideoFrames'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs')
]
train_dataloader = dict(num_workers=2, dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=2,
    dataset=dict(data_root=data_root, bbox_file=data_root + 'annotations/posetrack18_val_human_detections.json',
                 pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/posetrack18_val.json')
test_evaluator = val_evaluator
