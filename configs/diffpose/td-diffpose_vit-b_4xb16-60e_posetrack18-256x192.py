# DiffPose (Feng et al., ICCV 2023) on PoseTrack2018, paper settings: ViT-B (ViTPose-style), 256x192, δ = 2,
# T = 1000, N = 10 noise groups x 4 DDIM steps, AdamW 5e-4 x0.1 at epochs 20/40, 60 epochs, 4 GPUs x 16 clips.
# Data: data/posetrack18/ in MMPose's layout (images/{train,val}/<video>/000000.jpg, annotations/*.json).
# Nothing is downloaded. To start from ViTPose-B (MMPose model zoo:
# td-hm_ViTPose-base_8xb64-210e_coco-256x192-216eae50_20230314.pth) pass `--cfg-options load_from=<pth>` (its head is
# skipped), from MAE weights `model.backbone.init_cfg.type=Pretrained model.backbone.init_cfg.checkpoint=<pth>`.
_base_ = ['./_base_/diffpose_posetrack_video.py']

max_epochs = 60
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.1), paramwise_cfg=dict(custom_keys={
        'bias': dict(decay_mult=0.),
        'pos_embed': dict(decay_mult=0.),
        'norm': dict(decay_mult=0.)
    }), clip_grad=dict(max_norm=1.))
param_scheduler = [
    dict(type='LinearLR', end=500, start_factor=0.001, by_epoch=False),  # warm-up
    dict(type='MultiStepLR', end=max_epochs, milestones=[20, 40]),
]
auto_scale_lr = dict(base_batch_size=64)

model = dict(
    backbone=dict(type='mmpretrain.VisionTransformer', arch='base', img_size=(256, 192), drop_path_rate=0.3,
                  with_cls_token=False, out_type='featmap', patch_cfg=dict(padding=2)),
    neck=dict(in_channels=768, embed_dims=768, num_heads=12), head=dict(in_channels=768))
