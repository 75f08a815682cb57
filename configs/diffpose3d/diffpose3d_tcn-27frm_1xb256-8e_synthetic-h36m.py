# Tiny DiffPose-3D, sequence variant: 27-frame windows (VideoPose3D's 27-frame TCN as the context encoder) on the
# synthetic Human3.6M-layout data; everything else as the frame config.
#   python tools/train.py configs/diffpose3d/diffpose3d_tcn-27frm_1xb256-8e_synthetic-h36m.py
_base_ = ['./diffpose3d_tcn-1frm_1xb256-8e_synthetic-h36m.py']

seq = dict(seq_len=27, causal=False, pad_video_seq=True)
model = dict(backbone=dict(kernel_sizes=(3, 3, 3), num_blocks=2, use_stride_conv=True))
train_dataloader = dict(dataset=seq)
val_dataloader = dict(dataset=seq)
test_dataloader = val_dataloader
