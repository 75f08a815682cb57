# DiffPose on PoseTrack21 with the paper settings of the PoseTrack2018 config (ViT-B, 256x192, δ = 2,
# T = 1000, N = 10, 4 DDIM steps, AdamW 5e-4 x0.1 at epochs 20/40, 60 epochs); only the data differ.
#
# Data: data/posetrack21/ in the official layout: images/{train,val}/<video>/000000.jpg and the per-video
# annotation folders posetrack_data/{train,val}/*.json, which PoseTrackVideoDataset reads directly (ann_file
# may be a folder) and which are also the GT of the AP.
# PoseTrack21 ships no person detections: validation uses the GT boxes. To evaluate with detections, add
# `bbox_file=<detections.json>` and `filter_cfg=dict(bbox_score_thr=0.4)` to val_dataloader.dataset and give the
# metric a merged COCO-style `ann_file` for the COCO AP.
_base_ = ['./diffpose_vit-b_4xb16-60e_posetrack18-256x192.py']

data_root = 'data/posetrack21/'
train_dataloader = dict(dataset=dict(data_root=data_root, ann_file='posetrack_data/train'))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='PoseTrackVideoDataset',
        data_root=data_root,
        data_mode='topdown',
        ann_file='posetrack_data/val',
        data_prefix=dict(img=''),
        num_adjacent={{_base_.num_adjacent}},
        test_mode=True,
        pipeline={{_base_.val_pipeline}}))
test_dataloader = val_dataloader

val_evaluator = dict(type='PoseTrackMetric', ann_file=None, gt_dir=data_root + 'posetrack_data/val')
test_evaluator = val_evaluator
