from .posetrack_ap import (format_posetrack_table, match_frame, posetrack_joint_ap, remove_ignored_points,
                           summarize_posetrack_ap, voc_ap)
from .posetrack_io import (evaluate_posetrack_dir, list_posetrack_files, load_posetrack_dir, load_posetrack_file,
                           posetrack_frame_index, write_posetrack_predictions)

__all__ = [
    'format_posetrack_table', 'match_frame', 'posetrack_joint_ap', 'remove_ignored_points', 'summarize_posetrack_ap',
    'voc_ap', 'evaluate_posetrack_dir', 'list_posetrack_files', 'load_posetrack_dir', 'load_posetrack_file',
    'posetrack_frame_index', 'write_posetrack_predictions'
]
