# DiffPose-3D (Gong et al., CVPR 2023), single frame, CPN 2D detections on Human3.6M (paper Table 1, frame setting).
# MMPose's VideoPose3D 1-frame CPN config with the DiffPose-3D model and the authors' training settings
# (Adam lr 1e-3 as their code effectively uses, batch 1024, 80 epochs, gradient clip 1, EMA 0.999).
#   data: data/h36m/ as MMPose's docs prepare it (annotation_body3d/, joint_2d_det_files/cpn_ft_h36m_dbb_*.npy)
#   plus the per-joint 2D mixtures of the detections, which the authors do not publish (make them, e.g. from
#   keypoints with a constant 5 px scale; see docs/diffpose3d.md):
#     python tools/misc/fit_pose_gmm.py keypoints --data-root data/h36m \
#         --ann-file annotation_body3d/fps50/h36m_train.npz --det-file joint_2d_det_files/cpn_ft_h36m_dbb_train.npy \
#         --sigma 5 --out joint_2d_det_files/cpn_ft_h36m_dbb_train_gmm.npz      (and the same for test)
#   python tools/train.py configs/diffpose3d/diffpose3d_tcn-1frm-supv-cpn-ft_1xb1024-80e_h36m.py
_base_ = ['mmpose::body_3d_keypoint/video_pose_lift/h36m/video-pose-lift_tcn-1frm-supv-cpn-ft_8xb128-160e_h36m.py']
custom_imports = dict(imports=['diffpose_mm'], allow_failed_imports=False)

max_epochs = 80
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3), clip_grad=dict(max_norm=1.0))
param_scheduler = [dict(type='ExponentialLR', gamma=0.9**(1 / 60), end=max_epochs, by_epoch=True)]  # x0.9 / 60 ep.
auto_scale_lr = dict(base_batch_size=1024)
custom_hooks = [dict(type='EMAHook', momentum=0.001)]  # EMA 0.999

# (T, K, 2) inputs: PoseLifter's flip test and the context encoder read this layout
codec = dict(type='VideoPoseLifting', num_keypoints=17, zero_center=True, root_index=0, remove_root=False,
             reshape_keypoints=False)
context_channels = 64
model = dict(
    _delete_=True,
    type='PoseLifter',
    backbone=dict(type='DiffPoseContextEncoder', num_keypoints=17, context_channels=context_channels,
                  stem_channels=1024, num_blocks=2, kernel_sizes=(1, 1, 1), dropout=0.25),
    head=dict(
        type='DiffPose3DHead',
        num_keypoints=17,
        context_channels=context_channels,
        denoiser=dict(type='PoseGraphDenoiser', embed_dims=96, num_layers=5, num_heads=4),  # GCNdiff: 96 x 5
        prior=dict(type='KeypointGMMPrior', mode='gmm'),
        # T = 50 cosine steps; the authors' linear 1e-4..1e-3 over 51 steps keeps sqrt(ᾱ_T) at 0.99, i.e. hardly
        # leaves the data (docs/diffpose3d.md, "Diffusion settings")
        diffusion=dict(num_timesteps=50, signal_scale=1.0, input_mode='clamp'),
        decoder=codec),
    # N hypotheses (averaged), DDIM steps, seed: test-time settings (--cfg-options model.test_cfg.num_noise_groups=1)
    test_cfg=dict(flip_test=True, num_noise_groups=5, sampling_steps=5, eta=1.0, seed=0))

# mirror the camera: 2D about the image centre (Human3.6M images are 1000 px wide; MMPose's default centre
# x = 0.5 px moves flipped inputs by ~2 image widths, and center_mode='root' fails on sequences), 3D about x = 0;
# the same mirror as PoseLifter's flip test
flip = dict(type='RandomFlipAroundRoot', keypoints_flip_cfg=dict(center_mode='static', center_x=500.),
            target_flip_cfg=dict(center_mode='static', center_x=0.))
meta_keys = ('id', 'category_id', 'target_img_path', 'flip_indices', 'target_root', 'keypoint_gmm')
data_root = 'data/h36m/'
train_gmm_file = data_root + 'joint_2d_det_files/cpn_ft_h36m_dbb_train_gmm.npz'
test_gmm_file = data_root + 'joint_2d_det_files/cpn_ft_h36m_dbb_test_gmm.npz'
train_pipeline = [
    flip,
    dict(type='LoadKeypointGMM', gmm_file=train_gmm_file, dataset_name='h36m'),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs', meta_keys=meta_keys),
]
val_pipeline = [
    dict(type='LoadKeypointGMM', gmm_file=test_gmm_file, dataset_name='h36m'),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs', meta_keys=meta_keys),
]
train_dataloader = dict(batch_size=1024, dataset=dict(type='CheckedHuman36mDataset', data_root=data_root,
                                                      pipeline=train_pipeline))
val_dataloader = dict(batch_size=1024, dataset=dict(type='CheckedHuman36mDataset', data_root=data_root,
                                                    pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='MPJPE', mode='mpjpe'),
    dict(type='MPJPE', mode='p-mpjpe'),
    dict(type='MPJPE', mode='n-mpjpe')
]
test_evaluator = val_evaluator
