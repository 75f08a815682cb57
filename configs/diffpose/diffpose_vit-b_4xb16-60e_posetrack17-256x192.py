# DiffPose on PoseTrack2017 with the paper settings of the PoseTrack2018 config (ViT-B, 256x192, δ = 2,
# T = 1000, N = 10, 4 DDIM steps, AdamW 5e-4 x0.1 at epochs 20/40, 60 epochs); only the data differ.
#
# Data: data/posetrack17/ with the release's images/<folder>/<video>/00000001.jpg (8-digit, 1-based frame names
# are detected by PoseTrackVideoDataset; file names are kept as the annolist gives them) and the COCO-style files written by
# tools/dataset_converters/posetrack17_to_coco.py: annotations/posetrack17_{train,val}.json, the per-video GT
# folder annotations/val/ for the AP, and person detections annotations/posetrack17_val_human_detections.json.
_base_ = ['./diffpose_vit-b_4xb16-60e_posetrack18-256x192.py']

data_root = 'data/posetrack17/'
train_dataloader = dict(
    dataset=dict(data_root=data_root, ann_file='annotations/posetrack17_train.json'))
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/posetrack17_val.json',
        bbox_file=data_root + 'annotations/posetrack17_val_human_detections.json'))
test_dataloader = val_dataloader

val_evaluator = dict(type='PoseTrackMetric', ann_file=data_root + 'annotations/posetrack17_val.json')
test_evaluator = val_evaluator
