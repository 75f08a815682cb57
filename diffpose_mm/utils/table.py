"""Tables of the analysis tools: one formatter for markdown and plain aligned text, its cells and json, and the
mean ± std over training seeds that fills them."""
import math
from typing import Any, Optional, Sequence, Tuple

import numpy as np


def render_table(header: Sequence[Any], rows: Sequence[Sequence[Any]], align: Optional[str] = None,
                 markdown: bool = True) -> str:
    """Columns padded to their widest cell, as a markdown table or as plain text.

    Args:
        header (Sequence): Column names.
        rows (Sequence[Sequence]): Cells (``str()`` of each is printed), as many per row as ``header``.
        align (str, optional): ``'l'`` (left) or ``'r'`` (right) per column, e.g. ``'llrr'``. Defaults to
            all left.
        markdown (bool): ``| a | b |`` lines with a ``|---|--:|`` line under the header (``:`` marks the right
            aligned columns). Otherwise columns separated by two spaces, no rule, no trailing spaces.
            Defaults to True.

    Returns:
        str: The lines of the table, without a final newline.

    Example:
        >>> print(render_table(['run', 'AP'], [['a', 71.5], ['long name', 8.0]], align='lr'))
        | run       |   AP |
        |-----------|-----:|
        | a         | 71.5 |
        | long name |  8.0 |
        >>> print(render_table(['run', 'AP'], [['a', 71.5]], align='lr', markdown=False))
        run    AP
        a    71.5
    """
    lines = [[str(x) for x in header]] + [[str(x) for x in row] for row in rows]
    align = 'l' * len(header) if align is None else align
    if len(align) != len(header) or set(align) - set('lr'):
        raise ValueError(f'render_table: align needs one "l" or "r" per column ({len(header)}), got {align!r}')
    for line in lines[1:]:
        if len(line) != len(header):
            raise ValueError(f'render_table: {len(header)} columns in the header, {len(line)} in row {line}')
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def pad(line):
        return [x.rjust(w) if a == 'r' else x.ljust(w) for x, w, a in zip(line, widths, align)]

    if not markdown:
        return '\n'.join('  '.join(pad(line)).rstrip() for line in lines)
    rule = '|' + '|'.join('-' * (w + 1) + ':' if a == 'r' else '-' * (w + 2) for w, a in zip(widths, align)) + '|'
    md = ['| ' + ' | '.join(pad(line)) + ' |' for line in lines]
    return '\n'.join([md[0], rule] + md[1:])


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``) of ``values`` (e.g. one metric over training seeds, or
    paired per-seed differences): the std is NaN for a single value, both are NaN for none, and a NaN value
    makes the mean NaN (leave out what should not count before calling).

    Example:
        >>> mean_std([1.0, 2.0, 3.0])
        (2.0, 1.0)
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 0:
        return float('nan'), float('nan')
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else float('nan')


def mean_std_cell(value: Optional[float], std: Optional[float] = None, signed: bool = False) -> str:
    """``'71.5 ± 0.3'`` (one decimal; ``'+1.2'`` when ``signed``); ``'n/a'`` for a missing or NaN value, the
    value alone for a missing or NaN ``std`` (one seed)."""
    if value is None or math.isnan(value):
        return 'n/a'
    text = f'{value:+.1f}' if signed else f'{value:.1f}'
    return text if std is None or math.isnan(std) else f'{text} ± {std:.1f}'


def json_safe(node: Any) -> Any:
    """A result tree as valid json: NaN -> None, tuples -> lists, keys -> str, other objects -> ``str()``."""
    if isinstance(node, float):
        return None if math.isnan(node) else node
    if isinstance(node, dict):
        return {str(k): json_safe(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [json_safe(v) for v in node]
    return node if node is None or isinstance(node, (str, int, bool)) else str(node)
