"""tools/analysis/run_lifting_benchmark.py: the rows it derives (same data and budget, MMPose's own models) and
the table it prints (mean ± std over seeds, paired differences)."""
import math

import numpy as np
import pytest


@pytest.fixture(scope='module')
def bench(load_tool):
    return load_tool('tools/analysis/run_lifting_benchmark.py')


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    from pathlib import Path

    from diffpose_mm.testing import make_synthetic_h36m
    root = tmp_path_factory.mktemp('synthetic_h36m')
    make_synthetic_h36m(
        str(root), seed=2, train_subjects=('S1', ), test_subjects=('S9', ), actions=('Walking', ), train_subactions=1,
        frames=20, camera_file=str(Path(__file__).resolve().parents[1] / 'data/h36m/cameras.pkl'))
    return root


def test_reference_and_ablation_configs(bench, data):
    args = bench.parse_args(['--data-root', str(data), '--epochs', '3', '--seeds', '4', '5'])
    frame = bench.reference_config(args.frame_config, args, 5)
    assert frame.train_cfg.max_epochs == 3 and frame.param_scheduler[0]['T_max'] == 3
    assert frame.randomness.seed == 5 and frame.model.test_cfg.flip_test is False
    assert frame.train_dataloader.dataset.data_root.startswith(str(data))
    assert frame.train_dataloader.dataset.pipeline[1]['gmm_file'].startswith(str(data))  # every path moved
    assert frame.test_evaluator[-1]['type'] == 'KeypointSpreadMetric'
    gauss = bench.head_config(frame, prior_mode='gaussian', signal_scale=4.)
    assert gauss.model.head.prior.mode == 'gaussian' and gauss.model.head.diffusion.signal_scale == 4.
    assert frame.model.head.prior.mode == 'gmm'  # the reference is untouched
    assert bench.test_config(frame, num_noise_groups=10).model.test_cfg.num_noise_groups == 10


def test_mmpose_baselines_get_the_same_data_and_budget(bench, data):
    args = bench.parse_args(['--data-root', str(data)])
    frame = bench.reference_config(args.frame_config, args, 0)
    sb = bench.simplebaseline_config(frame)
    assert sb.model.backbone.type == 'TCN' and sb.model.backbone.kernel_sizes == (1, 1, 1)
    assert sb.model.backbone.stem_channels == sb.model.head.in_channels == frame.model.backbone.stem_channels
    assert sb.model.head.type == 'TemporalRegressionHead' and sb.model.head.decoder.type == 'ImagePoseLifting'
    for key in ('train_cfg', 'optim_wrapper', 'param_scheduler', 'randomness'):
        assert sb[key] == frame[key], key
    ds = sb.train_dataloader.dataset
    assert ds.type == 'Human36mDataset'
    assert ds.keypoint_2d_det_file == frame.train_dataloader.dataset.keypoint_2d_det_file
    assert [t['type'] for t in ds.pipeline] == ['GenerateTarget', 'PackPoseInputs']  # as shipped: no flip
    assert all(e['type'] == 'MPJPE' for e in sb.test_evaluator)
    # the codec statistics are those of the training split
    ann = np.load(data / 'annotation_body3d/fps50/h36m_train.npz')
    det = np.load(data / 'joint_2d_det_files/synthetic_det_train.npy')
    assert np.allclose(sb.model.head.decoder.keypoints_mean, det[..., :2].mean(0), atol=1e-4)
    rel = ann['S'][:, 1:, :3] - ann['S'][:, :1, :3]
    assert np.allclose(sb.model.head.decoder.target_std, rel.std(0), atol=1e-6)
    seq = bench.reference_config(args.sequence_config, args, 0)
    vp = bench.videopose3d_config(seq)
    assert vp.model.backbone.kernel_sizes == (3, 3, 3) and vp.train_dataloader.dataset.seq_len == 27
    assert vp.train_dataloader.dataset.pipeline[0] == seq.train_dataloader.dataset.pipeline[0]  # the same flip
    assert vp.model.head.loss.type == 'MPJPELoss'


def test_rows_and_table(bench):
    ref = {
        0: dict(MPJPE=0.080, **{
            'P-MPJPE': 0.060,
            'N-MPJPE': 0.078,
            'keypoint_spread': 0.05
        }),
        1: dict(MPJPE=0.082, **{
            'P-MPJPE': 0.061,
            'N-MPJPE': 0.079,
            'keypoint_spread': 0.04
        })
    }
    other = {
        0: dict(MPJPE=0.090, **{
            'P-MPJPE': 0.070,
            'N-MPJPE': 0.088
        }),
        1: dict(MPJPE=0.094, **{
            'P-MPJPE': 0.072,
            'N-MPJPE': 0.090
        })
    }
    row = bench.make_row('base', 'frame', other, ref)
    assert row['mean']['MPJPE'] == pytest.approx(92.) and row['std']['MPJPE'] == pytest.approx(math.sqrt(8))
    assert row['diff'] == pytest.approx(11.) and row['diff_std'] == pytest.approx(math.sqrt(2))
    assert row['diff_pct'] == pytest.approx(100 * np.mean([0.09 / 0.08 - 1, 0.094 / 0.082 - 1]))
    assert math.isnan(row['mean']['keypoint_spread'])
    # a NaN metric comes back from a reused run.json as null (json_safe): still NaN, not a crash
    nulls = {s: dict(m, spread_error_corr=None) for s, m in ref.items()}
    assert math.isnan(bench.make_row('N=1', 'frame', nulls, ref)['mean']['spread_error_corr'])
    table = bench.format_table([bench.make_row('DiffPose-3D', 'frame', ref, ref), row], 'caption')
    lines = table.splitlines()
    assert lines[0] == 'caption' and 'spread (mm)' in lines[2]
    assert '| 81.0 ± 1.4 |' in lines[4] and '45.0 |' in lines[4] and '+11.0 ± 1.4 | +13.6 |' in lines[5]


def test_spread_metric_reports_how_well_the_spread_tells_the_error(bench):
    metric = bench.KeypointSpreadMetric()
    rng = np.random.default_rng(0)
    samples = []
    for _ in range(50):
        error = rng.uniform(0, 0.2, 17)
        gt = rng.normal(size=(1, 17, 3))
        pred = gt + np.stack([error, np.zeros(17), np.zeros(17)], -1)[None]
        samples.append(
            dict(
                pred_instances=dict(keypoints=pred, keypoint_spread=(0.5 * error)[None]),
                gt_instances=dict(lifting_target=gt)))
    metric.process({}, samples)
    out = metric.compute_metrics(metric.results)
    assert out['spread_error_corr'] == pytest.approx(1.0)  # the spread is proportional to the error
    assert out['keypoint_spread'] == pytest.approx(
        np.mean([
            0.5 * np.linalg.norm(s['pred_instances']['keypoints'] - s['gt_instances']['lifting_target'], axis=-1)
            for s in samples
        ]))
