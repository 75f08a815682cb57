"""diffpose_mm.utils.table: the one table formatter of the analysis tools."""
import pytest

from diffpose_mm.utils import render_table

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
