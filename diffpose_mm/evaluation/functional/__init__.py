from .posetrack_ap import (POSETRACK_GROUPS, POSETRACK_JOINTS, POSETRACK_SUMMARY_KEYS,
                           format_posetrack_table, match_frame, posetrack_joint_ap,
                           remove_ignored_points, summarize_posetrack_ap, voc_ap)
from .posetrack_io import (POSETRACK18_KEYPOINTS, evaluate_posetrack_dir, frame_key,
                           list_posetrack_files, load_posetrack_dir, load_posetrack_file,
                           posetrack_frame_index, write_posetrack_predictions)

__all__ = [
    'POSETRACK_GROUPS', 'POSETRACK_JOINTS', 'POSETRACK_SUMMARY_KEYS', 'POSETRACK18_KEYPOINTS',
    'format_posetrack_table', 'match_frame', 'posetrack_joint_ap', 'remove_ignored_points',
    'summarize_posetrack_ap', 'voc_ap', 'evaluate_posetrack_dir', 'frame_key',
    'list_posetrack_files', 'load_posetrack_dir', 'load_posetrack_file', 'posetrack_frame_index',
    'write_posetrack_predictions'
]
