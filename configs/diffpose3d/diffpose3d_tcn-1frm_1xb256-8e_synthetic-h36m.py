# Tiny DiffPose-3D on the synthetic Human3.6M-layout data, trained on 2 CPU cores in minutes (make demo):
# the frame config's model and pipeline, 256-wide context encoder, 3-layer denoiser.
#   python tools/dataset_converters/make_synthetic_h36m.py --out data/synthetic_h36m --seed 0
#   python tools/train.py configs/diffpose3d/diffpose3d_tcn-1frm_1xb256-8e_synthetic-h36m.py
#   python tools/test.py configs/diffpose3d/diffpose3d_tcn-1frm_1xb256-8e_synthetic-h36m.py CKPT
_base_ = ['./diffpose3d_tcn-1frm-supv-cpn-ft_1xb1024-80e_h36m.py']

max_epochs = 8  # of 37 iterations (9600 frames, batch 256)
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
randomness = dict(seed=0)
param_scheduler = [dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5, by_epoch=True)]
auto_scale_lr = dict(base_batch_size=256)
custom_hooks = []
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=max_epochs, save_best=None))
log_processor = dict(window_size=20)

context_channels = 32
model = dict(
    backbone=dict(context_channels=context_channels, stem_channels=256),
    head=dict(context_channels=context_channels, denoiser=dict(embed_dims=64, num_layers=3, num_heads=4)),
    test_cfg=dict(
        flip_test=False))  # as the MMPose lifters it is compared with (they have no flip test); halves testing

data_root = 'data/synthetic_h36m/'
train_gmm_file = data_root + 'joint_2d_det_files/synthetic_det_train_gmm.npz'
test_gmm_file = data_root + 'joint_2d_det_files/synthetic_det_test_gmm.npz'
train_pipeline = [
    {{_base_.flip}},
    dict(type='LoadKeypointGMM', gmm_file=train_gmm_file, dataset_name='h36m'),
    dict(type='GenerateTarget', encoder={{_base_.codec}}),
    dict(type='PackPoseInputs', meta_keys={{_base_.meta_keys}}),
]
val_pipeline = [
    dict(type='LoadKeypointGMM', gmm_file=test_gmm_file, dataset_name='h36m'),
    dict(type='GenerateTarget', encoder={{_base_.codec}}),
    dict(type='PackPoseInputs', meta_keys={{_base_.meta_keys}}),
]
train_dataloader = dict(
    batch_size=256,
    num_workers=2,  # MMPose's per-sample transforms cost more than the model: load on both cores
    persistent_workers=True,
    dataset=dict(data_root=data_root, keypoint_2d_det_file='joint_2d_det_files/synthetic_det_train.npy',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=256,
    num_workers=2,  # MMPose's per-sample transforms cost more than the model: load on both cores
    persistent_workers=True,
    dataset=dict(data_root=data_root, keypoint_2d_det_file='joint_2d_det_files/synthetic_det_test.npy',
                 pipeline=val_pipeline))
test_dataloader = val_dataloader
