"""The PoseTrack17/18/21 format: the one place that knows it.

Everything that reads, writes, converts or evaluates PoseTrack files takes its joint names, joint maps,
groups, person category and image-id scheme from here (the datasets, the evaluation, the converters and the
synthetic-data generator). The 17-keypoint layout is MMPose's ``posetrack18`` metainfo
(``mmpose/configs/_base_/datasets/posetrack18.py``), which is also ``PoseTrackVideoDataset.METAINFO``.
"""
from collections import OrderedDict
from typing import Dict, Tuple

from mmpose.datasets.datasets.utils import parse_pose_metainfo

# MMPose's metainfo file (resolved inside the installed mmpose package, as the dataset does).
POSETRACK18_METAINFO_FILE = 'configs/_base_/datasets/posetrack18.py'


def _posetrack18_metainfo() -> dict:
    import warnings
    with warnings.catch_warnings():  # "matched config file ... will be used instead": expected
        warnings.simplefilter('ignore', UserWarning)
        return parse_pose_metainfo(dict(from_file=POSETRACK18_METAINFO_FILE))


_META = _posetrack18_metainfo()

# The 17 keypoints of the PoseTrack18/21 json files (COCO order; the eye slots hold head_bottom/head_top).
POSETRACK18_KEYPOINTS: Tuple[str, ...] = tuple(_META['keypoint_id2name'][i] for i in range(_META['num_keypoints']))
NUM_KEYPOINTS = len(POSETRACK18_KEYPOINTS)
# The 1-based skeleton of the official PoseTrack18 json ``categories`` entry (COCO's; it is the file format's,
# not MMPose's drawing skeleton, which leaves out the ear links).
POSETRACK18_SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7],
                        [6, 8], [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5],
                        [4, 6], [5, 7]]

# The person category of every PoseTrack json.
PERSON_CATEGORY = dict(supercategory='person', id=1, name='person', keypoints=list(POSETRACK18_KEYPOINTS),
                       skeleton=POSETRACK18_SKELETON)

# poseval's 15 evaluated joints, in poseval's order (``eval_helpers.Joint``), which is also the PoseTrack17
# ``annopoints`` joint id (0..14). ``head_bottom`` is poseval's "neck". The ears of the 17-keypoint layout are
# never annotated and are dropped.
POSETRACK_JOINTS: Tuple[str, ...] = (
    'right_ankle', 'right_knee', 'right_hip', 'left_hip', 'left_knee', 'left_ankle', 'right_wrist',
    'right_elbow', 'right_shoulder', 'left_shoulder', 'left_elbow', 'left_wrist', 'head_bottom',
    'nose', 'head_top')
NUM_POSETRACK_JOINTS = len(POSETRACK_JOINTS)
# PoseTrack17 joint id (0..14) -> index in the 17-keypoint layout
PT17_TO_PT18: Tuple[int, ...] = tuple(POSETRACK18_KEYPOINTS.index(name) for name in POSETRACK_JOINTS)

# The groups of the published AP table (``eval_helpers.getCum``). Total is the mean of the 15 joint APs, not
# of the 7 groups.
POSETRACK_GROUPS: 'OrderedDict[str, Tuple[str, ...]]' = OrderedDict([
    ('Head', ('head_top', 'head_bottom', 'nose')),
    ('Shoulder', ('right_shoulder', 'left_shoulder')),
    ('Elbow', ('right_elbow', 'left_elbow')),
    ('Wrist', ('right_wrist', 'left_wrist')),
    ('Hip', ('right_hip', 'left_hip')),
    ('Knee', ('right_knee', 'left_knee')),
    ('Ankle', ('right_ankle', 'left_ankle')),
])
POSETRACK_SUMMARY_KEYS: Tuple[str, ...] = tuple(POSETRACK_GROUPS) + ('Total', )
# The same groups as indices into the 17-keypoint layout (for per-keypoint arrays of a model's output).
POSETRACK_GROUP_INDICES: Dict[str, Tuple[int, ...]] = OrderedDict(
    (group, tuple(sorted(POSETRACK18_KEYPOINTS.index(n) for n in names)))
    for group, names in POSETRACK_GROUPS.items())


def posetrack_image_id(video_id: int, frame_index: int) -> int:
    """PoseTrack18's image id: ``1`` + 6-digit video id + 4-digit 0-based frame index.

    Example:
        >>> posetrack_image_id(23, 5)
        10000230005
    """
    if not 0 <= video_id <= 999999 or not 0 <= frame_index <= 9999:
        raise ValueError(f'PoseTrack image ids need a video id in 0..999999 and a frame index in 0..9999, '
                         f'got {video_id} and {frame_index}')
    return int(f'1{video_id:06d}{frame_index:04d}')
