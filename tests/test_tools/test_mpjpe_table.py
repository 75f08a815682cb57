"""tools/analysis/mpjpe_table.py: the demo's MPJPE table from a tools/test.py log."""
import pytest

LOG = ('12/01 10:00:00 - mmengine - INFO - Epoch(train) [8][20/38]  loss: 0.3  mpjpe: 0.9\n'
       '12/01 10:00:01 - mmengine - INFO - Epoch(test) [13/13]    MPJPE: 0.5  MPJPE_Walking: 0.4\n'
       '12/01 10:00:02 - mmengine - INFO - Epoch(test) [13/13]    MPJPE: 0.076677  MPJPE_Sitting: 0.081101  '
       'MPJPE_Walking: 0.073279  P-MPJPE: 0.059373  P-MPJPE_Sitting: 0.060537  P-MPJPE_Walking: 0.058109  '
       'N-MPJPE: 0.07534  N-MPJPE_Sitting: 0.079632  N-MPJPE_Walking: 0.072843  keypoint_spread: 0.05  '
       'data_time: 0.368008  time: 1.373834\n')


@pytest.fixture
def tool(load_tool):
    return load_tool('tools/analysis/mpjpe_table.py')


def test_last_test_line_in_millimetres(tool, tmp_path, capsys):
    log = tmp_path / 'test.log'
    log.write_text(LOG)
    metrics = tool.read_metrics(str(log))
    assert metrics['MPJPE'] == pytest.approx(76.677)
    assert metrics['N-MPJPE_Sitting'] == pytest.approx(79.632)
    assert 'keypoint_spread' not in metrics and 'time' not in metrics
    assert tool.main([str(log)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        '| (mm)    | Sitting | Walking |  All |',
        '|---------|--------:|--------:|-----:|',
        '| MPJPE   |    81.1 |    73.3 | 76.7 |',
        '| P-MPJPE |    60.5 |    58.1 | 59.4 |',
        '| N-MPJPE |    79.6 |    72.8 | 75.3 |',
    ]


def test_a_log_without_a_test_names_the_file(tool, tmp_path):
    log = tmp_path / 'train.log'
    log.write_text(LOG.splitlines()[0] + '\n')
    with pytest.raises(ValueError, match='train.log: no "Epoch\\(test\\)" line'):
        tool.read_metrics(str(log))
