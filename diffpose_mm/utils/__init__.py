"""Helpers of the analysis tools (registers nothing)."""
from .runs import find_run, gt_box_dataset, load_run, replace_prefix, with_data_root
from .table import json_safe, mean_std, mean_std_cell, render_table

__all__ = [
    'find_run', 'gt_box_dataset', 'json_safe', 'load_run', 'mean_std', 'mean_std_cell', 'render_table',
    'replace_prefix', 'with_data_root'
]
