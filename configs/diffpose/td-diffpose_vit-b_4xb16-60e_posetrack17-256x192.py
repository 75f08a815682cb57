# The PoseTrack2018 paper config on PoseTrack2017. Data: data/posetrack17/images/<folder>/<video>/00000001.jpg
# (the release's 1-based names, detected) and the files of tools/dataset_converters/posetrack17_to_coco.py.
_base_ = ['./td-diffpose_vit-b_4xb16-60e_posetrack18-256x192.py']

data_root = 'data/posetrack17/'
train_dataloader = dict(dataset=dict(data_root=data_root, ann_file='annotations/posetrack17_train.json'))
val_dataloader = dict(
    dataset=dict(data_root=data_root, ann_file='annotations/posetrack17_val.json', bbox_file=data_root +
                 'annotations/posetrack17_val_human_detections.json'))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/posetrack17_val.json')
test_evaluator = val_evaluator
