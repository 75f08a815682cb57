# DiffPose-3D, single frame, ground-truth 2D keypoints on Human3.6M (paper Table 1, frame setting, GT 2D).
# The CPN frame config with keypoint_2d_src='gt' and mixtures made from the GT 2D (no detector: a constant scale),
#   python tools/misc/fit_pose_gmm.py keypoints --data-root data/h36m --from-gt --sigma 2 \
#       --ann-file annotation_body3d/fps50/h36m_train.npz --out annotation_body3d/fps50/h36m_train_gt2d_gmm.npz
#   (and the same for test)
_base_ = ['./diffpose3d_tcn-1frm-supv-cpn-ft_1xb1024-80e_h36m.py']

data_root = 'data/h36m/'
gt2d = dict(keypoint_2d_src='gt', keypoint_2d_det_file=None)
train_pipeline = [
    {{_base_.flip}},
    dict(type='LoadKeypointGMM', gmm_file=data_root + 'annotation_body3d/fps50/h36m_train_gt2d_gmm.npz',
         dataset_name='h36m'),
    dict(type='GenerateTarget', encoder={{_base_.codec}}),
    dict(type='PackPoseInputs', meta_keys={{_base_.meta_keys}}),
]
val_pipeline = [
    dict(type='LoadKeypointGMM', gmm_file=data_root + 'annotation_body3d/fps50/h36m_test_gt2d_gmm.npz',
         dataset_name='h36m'),
    dict(type='GenerateTarget', encoder={{_base_.codec}}),
    dict(type='PackPoseInputs', meta_keys={{_base_.meta_keys}}),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline, **gt2d))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline, **gt2d))
test_dataloader = val_dataloader
