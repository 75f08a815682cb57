import pytest
import torch
from mmengine.structures import InstanceData
from mmpose.models.data_preprocessors import PoseDataPreprocessor
from mmpose.structures import PoseDataSample

from diffpose_mm.models.data_preprocessors import VideoPoseDataPreprocessor

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def batch(shapes, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = [torch.randint(0, 256, s, generator=g, dtype=torch.uint8) for s in shapes]
    samples = [PoseDataSample(gt_instances=InstanceData()) for _ in shapes]
    return dict(inputs=inputs, data_samples=samples)


def expected(x, bgr_to_rgb=True):
    """Reference normalisation of one (..., 3, H, W) uint8 tensor."""
    x = x.double()
    if bgr_to_rgb:
        x = x.flip(-3)
    mean = torch.tensor(MEAN, dtype=torch.float64).view(3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float64).view(3, 1, 1)
    return (x - mean) / std


def test_video_batch_values_and_shapes():
    pre = VideoPoseDataPreprocessor(mean=MEAN, std=STD, bgr_to_rgb=True)
    data = batch([(5, 3, 8, 6)] * 2)
    raw = [x.clone() for x in data['inputs']]
    out = pre(data)
    assert out['inputs'].shape == (2, 5, 3, 8, 6) and out['inputs'].dtype == torch.float32
    for b in range(2):
        torch.testing.assert_close(out['inputs'][b].double(), expected(raw[b]), atol=1e-5, rtol=0)
    # the channels really are swapped per frame (not the frame axis)
    torch.testing.assert_close(out['inputs'][0, 1, 0] * STD[0] + MEAN[0], raw[0][1, 2].float(), atol=1e-3, rtol=0)
    for sample in out['data_samples']:
        assert sample.metainfo['batch_input_shape'] == (8, 6)
        assert sample.metainfo['pad_shape'] == (8, 6)


def test_without_channel_conversion_or_normalisation():
    data = batch([(3, 3, 4, 4)])
    raw = data['inputs'][0].clone()
    out = VideoPoseDataPreprocessor(mean=MEAN, std=STD)(data)
    torch.testing.assert_close(out['inputs'][0].double(), expected(raw, bgr_to_rgb=False), atol=1e-5, rtol=0)
    out = VideoPoseDataPreprocessor()(batch([(3, 3, 4, 4)]))
    torch.testing.assert_close(out['inputs'][0], raw.float())


def test_single_frame_is_a_drop_in_replacement():
    kwargs = dict(mean=MEAN, std=STD, bgr_to_rgb=True, pad_size_divisor=4)
    ours = VideoPoseDataPreprocessor(**kwargs)(batch([(3, 10, 7), (3, 9, 8)]))
    ref = PoseDataPreprocessor(**kwargs)(batch([(3, 10, 7), (3, 9, 8)]))
    assert ours['inputs'].shape == ref['inputs'].shape == (2, 3, 12, 8)
    torch.testing.assert_close(ours['inputs'], ref['inputs'])
    for a, b in zip(ours['data_samples'], ref['data_samples']):
        assert a.metainfo['batch_input_shape'] == b.metainfo['batch_input_shape']
        assert a.metainfo['pad_shape'] == b.metainfo['pad_shape']


def test_padding_of_video_frames():
    pre = VideoPoseDataPreprocessor(mean=MEAN, std=STD, pad_size_divisor=8, pad_value=0)
    data = batch([(2, 3, 10, 7), (2, 3, 9, 12)])
    raw = [x.clone() for x in data['inputs']]
    out = pre(data)
    assert out['inputs'].shape == (2, 2, 3, 16, 16)
    torch.testing.assert_close(out['inputs'][0, :, :, :10, :7].double(), expected(raw[0], bgr_to_rgb=False), atol=1e-5,
                               rtol=0)
    assert (out['inputs'][0, :, :, 10:] == 0).all() and (out['inputs'][0, :, :, :, 7:] == 0).all()
    assert [s.metainfo['pad_shape'] for s in out['data_samples']] == [(16, 8), (16, 16)]
    assert all(s.metainfo['batch_input_shape'] == (16, 16) for s in out['data_samples'])


def test_stacked_input_from_default_collate():
    data = batch([(5, 3, 4, 4)] * 3)
    raw = torch.stack(data['inputs'])
    data['inputs'] = raw.clone()
    out = VideoPoseDataPreprocessor(mean=MEAN, std=STD, bgr_to_rgb=True)(data)
    torch.testing.assert_close(out['inputs'].double(), expected(raw), atol=1e-5, rtol=0)


def test_bad_inputs():
    pre = VideoPoseDataPreprocessor(mean=MEAN, std=STD)
    with pytest.raises(ValueError, match='same number of frames'):
        pre(batch([(5, 3, 4, 4), (3, 3, 4, 4)]))
    with pytest.raises(ValueError, match=r'\(3, H, W\) or \(T, 3, H, W\)'):
        pre(batch([(5, 3, 4, 4), (3, 4, 4)]))
    with pytest.raises(ValueError, match='3-channel'):
        pre(batch([(5, 4, 4, 4)]))


def test_random_batch_with_padding_and_channel_swap():
    """Every frame: BGR->RGB, mean/std, bottom-right padding with pad_value to the batch's largest (H, W)
    rounded up to pad_size_divisor; the same result for a list and for a default_collate stack."""
    kwargs = dict(mean=MEAN, std=STD, bgr_to_rgb=True, pad_size_divisor=32, pad_value=7.5)
    data = batch([(4, 3, 37, 20), (4, 3, 30, 41), (4, 3, 5, 7)], seed=3)
    raw = [x.clone() for x in data['inputs']]
    out = VideoPoseDataPreprocessor(**kwargs)(data)
    assert out['inputs'].shape == (3, 4, 3, 64, 64) and len(out['data_samples']) == 3
    for b, x in enumerate(raw):
        H, W = x.shape[-2:]
        ref = torch.full((4, 3, 64, 64), 7.5, dtype=torch.float64)
        ref[..., :H, :W] = expected(x)
        torch.testing.assert_close(out['inputs'][b].double(), ref, atol=1e-5, rtol=0)
    assert [s.metainfo['pad_shape'] for s in out['data_samples']] == [(64, 32), (32, 64), (32, 32)]
    same = batch([(4, 3, 30, 41)] * 2, seed=4)
    listed = VideoPoseDataPreprocessor(**kwargs)(dict(inputs=list(same['inputs']), data_samples=None))
    stacked = VideoPoseDataPreprocessor(**kwargs)(dict(inputs=torch.stack(same['inputs']), data_samples=None))
    assert torch.equal(listed['inputs'], stacked['inputs']) and stacked['data_samples'] is None


class RecordingBatchAugment(torch.nn.Module):

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, inputs, data_samples):
        self.calls.append((tuple(inputs.shape), len(data_samples)))
        return inputs * 2, data_samples


def test_batch_augments_and_metainfo_once_per_sample():
    pre = VideoPoseDataPreprocessor(mean=MEAN, std=STD)
    aug = RecordingBatchAugment()
    pre.batch_augments = torch.nn.ModuleList([aug])
    data = batch([(5, 3, 8, 6)] * 2)
    ref = pre(batch([(5, 3, 8, 6)] * 2))['inputs']  # not training: no augmentation
    assert aug.calls == []
    out = pre(data, training=True)
    assert aug.calls == [((2, 5, 3, 8, 6), 2)]  # the 5-D batch and one data sample per clip
    torch.testing.assert_close(out['inputs'], ref * 2)
    assert len(out['data_samples']) == 2
    assert all(s.metainfo == dict(batch_input_shape=(8, 6), pad_shape=(8, 6)) for s in out['data_samples'])


def test_bad_input_types():
    pre = VideoPoseDataPreprocessor()
    with pytest.raises(TypeError, match='list of tensors'):
        pre(dict(inputs=[], data_samples=None))
    with pytest.raises(TypeError, match='list of tensors'):
        pre(dict(inputs=[torch.zeros(3, 4, 4), 'frame'], data_samples=None))
