"""diffpose_mm.utils.cached_runs: which finished runs a benchmark tool may reuse."""
import json

from mmengine.config import Config

from diffpose_mm.utils.cached_runs import RECORD, fingerprint, finished, mark_finished, run_config


def _cfg(a=1, n=5, evaluator=1, vis='x'):
    return Config(dict(model=dict(a=a, test_cfg=dict(n=n)), visualizer=dict(name=vis), test_evaluator=[evaluator]))


def test_finished_runs_are_reused_only_for_the_same_config(tmp_path):
    work_dir = str(tmp_path)
    assert finished(work_dir, _cfg()) is None  # nothing recorded yet
    mark_finished(work_dir, _cfg(), metrics=dict(MPJPE=0.1))
    assert json.loads((tmp_path / RECORD).read_text())['metrics'] == dict(MPJPE=0.1)
    assert finished(work_dir, _cfg(vis='other name'))['metrics'] == dict(MPJPE=0.1)  # runner names do not count
    assert finished(work_dir, _cfg(a=2)) is None
    # a test with other settings is another test ...
    assert finished(work_dir, _cfg(n=1, evaluator=2)) is None
    # ... but the same training: a training's fingerprint leaves the test settings out
    mark_finished(work_dir, _cfg(), training=True, checkpoint='c.pth')
    assert finished(work_dir, _cfg(n=1, evaluator=2), training=True)['checkpoint'] == 'c.pth'
    assert finished(work_dir, _cfg(a=2), training=True) is None
    # a training is also matched by a record of its full config
    mark_finished(work_dir, _cfg(), checkpoint='full.pth')
    assert finished(work_dir, _cfg(), training=True)['checkpoint'] == 'full.pth'


def test_run_config_names_each_runner_apart_without_changing_the_fingerprint(tmp_path):
    cfg = _cfg()
    first, second = run_config(cfg, str(tmp_path), 'row'), run_config(cfg, str(tmp_path), 'row')
    assert first.work_dir == str(tmp_path) and first.experiment_name.startswith('row_')
    assert first.experiment_name != second.experiment_name  # MMEngine keeps one logger per experiment name
    assert first.visualizer.name != second.visualizer.name and cfg.visualizer.name == 'x'  # a copy
    assert fingerprint(first) == fingerprint(second) != fingerprint(cfg)  # the work dir counts
