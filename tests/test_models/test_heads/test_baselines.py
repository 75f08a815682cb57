"""diffpose_mm.models.heads.baselines: the HeatmapHead baseline of a DiffPose config, one definition for the
ablations (run_ablations.py) and the inference benchmark (benchmark_inference.py)."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmpose.models.heads import HeatmapHead
from mmpose.registry import MODELS

import diffpose_mm  # noqa: F401  (registers the modules)
from diffpose_mm.models.heads.baselines import heatmap_head_like, heatmap_test_cfg

CODEC = dict(type='MSRAHeatmap', input_size=(48, 64), heatmap_size=(12, 16), sigma=2)


def test_heatmap_head_like_settings(mmpose_scope):
    diffpose = dict(type='DiffPoseHead', in_channels=64, out_channels=17, feat_channels=(64, 48, 32),
                    loss=dict(type='KeypointMSELoss', use_target_weight=False), decoder=CODEC)
    given = copy.deepcopy(diffpose)
    head = heatmap_head_like(diffpose)
    assert head == dict(type='HeatmapHead', in_channels=64, out_channels=17, deconv_out_channels=(48, 32),
                        deconv_kernel_sizes=(4, 4), loss=dict(type='KeypointMSELoss',
                                                              use_target_weight=False), decoder=CODEC)
    assert diffpose == given and head['decoder'] is not diffpose['decoder']  # a new dict, the input unchanged
    assert heatmap_head_like(diffpose, in_channels=128)['in_channels'] == 128
    # unset options: DiffPoseHead's defaults (widths 256, 128, 64 and the weighted MSE loss)
    default = heatmap_head_like(dict(type='DiffPoseHead', in_channels=64, out_channels=17, decoder=CODEC))
    assert default['deconv_out_channels'] == (128, 64)
    assert default['loss'] == dict(type='KeypointMSELoss', use_target_weight=True)
    with pytest.raises(ValueError, match='DiffPoseHead'):
        heatmap_head_like(head)
    # heatmaps 4x the feature map, as DiffPoseHead's
    model = MODELS.build(head)
    assert isinstance(model, HeatmapHead)
    assert model([torch.rand(1, 64, 4, 3)]).shape == (1, 17, 16, 12)


def test_heatmap_test_cfg_drops_the_sampling_keys():
    test_cfg = dict(flip_test=True, shift_heatmap=True, num_noise_groups=10, sampling_steps=4, eta=1., seed=0)
    assert heatmap_test_cfg(test_cfg) == dict(flip_test=True, shift_heatmap=True)
    assert heatmap_test_cfg(None) == {}


def test_ablations_and_benchmark_share_the_baseline(load_tool, mmpose_scope, monkeypatch):
    """run_ablations trains, and benchmark_inference times, the same HeatmapHead for the same DiffPose config."""
    ablations = load_tool('tools/analysis/run_ablations.py')
    benchmark = load_tool('tools/analysis/benchmark_inference.py')
    cfg = Config.fromfile(ablations.DEFAULT_CONFIG)
    built = []

    class Recorder:  # MODELS, remembering what benchmark_inference builds

        @staticmethod
        def build(model_cfg):
            built.append(copy.deepcopy(model_cfg))
            return MODELS.build(model_cfg)

    monkeypatch.setattr(benchmark, 'MODELS', Recorder)
    _, baseline = benchmark.build_models(copy.deepcopy(cfg), torch.device('cpu'))
    assert isinstance(baseline.head, HeatmapHead)
    expected = ablations.heatmap_head_config(cfg).model
    assert built[1]['head'] == expected.head == heatmap_head_like(cfg.model.head)
    assert built[1]['test_cfg'] == expected.test_cfg
    deconvs = [m for m in baseline.head.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [m.out_channels for m in deconvs] == list(cfg.model.head.feat_channels[1:3])  # not 256, 256
