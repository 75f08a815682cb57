"""diffpose_mm.utils.table: the one table formatter of the analysis tools."""
import json
import math

import pytest

from diffpose_mm.utils import json_safe, mean_std, mean_std_cell, render_table

HEADER = ['run', 'N', 'AP']
ROWS = [['delta2', 10, '71.5 ± 0.4'], ['heatmap_head', '-', 8.0]]


def test_markdown_exact():
    assert render_table(HEADER, ROWS, align='lrr') == '\n'.join([
        '| run          |  N |         AP |',
        '|--------------|---:|-----------:|',
        '| delta2       | 10 | 71.5 ± 0.4 |',
        '| heatmap_head |  - |        8.0 |',
    ])
    # default: every column left aligned, a plain rule
    assert render_table(['a', 'bb'], [['ccc', 'd']]) == '| a   | bb |\n|-----|----|\n| ccc | d  |'


def test_text_exact():
    assert render_table(HEADER, ROWS, align='lrr', markdown=False) == '\n'.join([
        'run            N          AP',
        'delta2        10  71.5 ± 0.4',
        'heatmap_head   -         8.0',
    ])
    # no trailing spaces after a left-aligned last column
    assert render_table(['x', 'y'], [['1', 'long']], markdown=False) == 'x  y\n1  long'


def test_header_only_and_errors():
    assert render_table(['a', 'b'], []) == '| a | b |\n|---|---|'
    with pytest.raises(ValueError, match='align'):
        render_table(['a', 'b'], [], align='l')
    with pytest.raises(ValueError, match='align'):
        render_table(['a'], [], align='c')
    with pytest.raises(ValueError, match='columns'):
        render_table(['a', 'b'], [['1']])


def test_mean_std_over_seeds():
    # sample std (ddof=1): values 80, 82, 84 -> mean 82, std 2
    assert mean_std([80.0, 82.0, 84.0]) == pytest.approx((82.0, 2.0))
    mean, std = mean_std([81.5])  # one seed: no std
    assert mean == 81.5 and math.isnan(std)
    assert all(math.isnan(x) for x in mean_std([]))
    mean, std = mean_std([1.0, float('nan')])  # a NaN seed is not silently dropped
    assert math.isnan(mean) and math.isnan(std)


def test_mean_std_cell():
    assert mean_std_cell(71.54, 0.26) == '71.5 ± 0.3'
    assert mean_std_cell(1.25, 0.5, signed=True) == '+1.2 ± 0.5'
    assert mean_std_cell(-0.04, signed=True) == '-0.0'
    assert mean_std_cell(3.0, float('nan')) == '3.0'  # one seed: no std
    assert mean_std_cell(float('nan'), 1.0) == 'n/a'
    assert mean_std_cell(None) == 'n/a'


def test_json_safe_round_trips_through_strict_json():
    tree = {'a': float('nan'), 1: (2, 3.5), 'o': object, 'n': None, 'b': [True, {'x': float('nan')}]}
    safe = json_safe(tree)
    assert json.loads(json.dumps(safe, allow_nan=False)) == {
        'a': None,
        '1': [2, 3.5],
        'o': str(object),
        'n': None,
        'b': [True, {
            'x': None
        }]
    }
