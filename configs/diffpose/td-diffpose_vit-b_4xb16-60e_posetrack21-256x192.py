# The PoseTrack2018 paper config on PoseTrack21 (data/posetrack21/ as released: images/ and the per-video
# posetrack_data/{train,val}/*.json, read directly). No detections ship: validation uses the GT boxes (for
# detections set val_dataloader.dataset.bbox_file and filter_cfg, and a merged COCO-style val_evaluator.ann_file).
_base_ = ['./td-diffpose_vit-b_4xb16-60e_posetrack18-256x192.py']

data_root = 'data/posetrack21/'
train_dataloader = dict(dataset=dict(data_root=data_root, ann_file='posetrack_data/train'))
val_dataloader = dict(
    dataset=dict(_delete_=True, type='PoseTrackVideoDataset', data_root=data_root, ann_file='posetrack_data/val',
                 num_adjacent=_base_.num_adjacent, test_mode=True, pipeline=_base_.val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=None, gt_dir=data_root + 'posetrack_data/val')
test_evaluator = val_evaluator
