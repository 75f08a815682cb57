"""Finished trainings for the analysis tools: their config and checkpoint, the model, and the GT-box data.

A *work dir* here is what ``tools/train.py`` (MMEngine's runner) leaves behind: the dumped config (one ``*.py``)
and ``last_checkpoint``, a file naming the last checkpoint.
"""
import copy
import glob
import os.path as osp
from typing import Any, Optional, Tuple

from mmengine.config import Config


def replace_prefix(node: Any, old: str, new: str) -> Any:
    """Copy of a config tree where every string starting with ``old`` starts with ``new`` instead.

    Example:
        >>> replace_prefix(dict(a=['data/x/ann.json', 'other']), 'data/x/', 'data/y/')
        {'a': ['data/y/ann.json', 'other']}
    """
    if isinstance(node, str):
        return new + node[len(old):] if node.startswith(old) else node
    if isinstance(node, dict):
        return type(node)({k: replace_prefix(v, old, new) for k, v in node.items()})
    if isinstance(node, (list, tuple)):
        return type(node)(replace_prefix(v, old, new) for v in node)
    return node


def with_data_root(cfg: Config, data_root: str) -> Config:
    """``cfg`` with every path under its top-level ``data_root`` moved to ``data_root``.

    Raises:
        ValueError: if ``cfg`` has no (or an empty) top-level ``data_root``.
    """
    if not cfg.get('data_root'):
        raise ValueError(f'{cfg.filename}: expected a top-level `data_root` to replace with --data-root')
    return Config(replace_prefix(cfg.to_dict(), cfg.data_root, data_root.rstrip('/') + '/'), filename=cfg.filename)


def find_run(work_dir: str, data_root: Optional[str] = None, cfg_options: Optional[dict] = None) -> Tuple[Config, str]:
    """The dumped config and the last checkpoint of a finished training work dir.

    Args:
        work_dir (str): The training's work dir (one dumped ``*.py`` config and ``last_checkpoint``).
        data_root (str, optional): Replaces the config's ``data_root`` prefix (see :func:`with_data_root`).
        cfg_options (dict, optional): ``key=value`` overrides merged into the config after ``data_root``.

    Returns:
        tuple[Config, str]: The config and the checkpoint path. A work dir that was moved or copied still holds
        the checkpoint under its own name: if the path in ``last_checkpoint`` does not exist, the file of that
        name in ``work_dir`` is used.

    Raises:
        FileNotFoundError: without one dumped config and ``last_checkpoint``, or if the checkpoint is in
            neither place.
    """
    configs = glob.glob(osp.join(work_dir, '*.py'))
    ckpt_file = osp.join(work_dir, 'last_checkpoint')
    if len(configs) != 1 or not osp.isfile(ckpt_file):
        raise FileNotFoundError(f'{work_dir}: expected one dumped config (*.py) and last_checkpoint (a finished '
                                f'training work dir), found configs={configs}')
    cfg = Config.fromfile(configs[0])
    if data_root is not None:
        cfg = with_data_root(cfg, data_root)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    with open(ckpt_file) as f:
        checkpoint = f.read().strip()
    if not osp.isfile(checkpoint):
        moved = osp.join(work_dir, osp.basename(checkpoint))
        if not osp.isfile(moved):
            raise FileNotFoundError(f'{ckpt_file} points to {checkpoint}, which does not exist (nor does {moved})')
        checkpoint = moved
    return cfg, checkpoint


def load_run(work_dir: str, data_root: Optional[str] = None, cfg_options: Optional[dict] = None,
             device: str = 'cpu') -> tuple:
    """:func:`find_run`, and the model built by ``mmpose.apis.init_model`` with that checkpoint (loaded with
    ``weights_only=True`` and MMEngine's allowlist, :mod:`diffpose_mm.engine.checkpoint`).

    The overrides are applied *before* the model is built, so e.g. ``model.test_cfg.num_noise_groups=1`` takes
    effect.

    Returns:
        tuple[Config, nn.Module]: The config (as :func:`find_run` returns it) and the model in eval mode on
        ``device``.
    """
    from mmpose.apis import init_model  # imports MMPose's inferencers: only when a model is loaded

    from diffpose_mm.engine.checkpoint import mmengine_checkpoint_globals
    cfg, checkpoint = find_run(work_dir, data_root, cfg_options)
    with mmengine_checkpoint_globals(checkpoint):  # weights_only=True with MMEngine's types allowed
        model = init_model(copy.deepcopy(cfg), checkpoint, device=device)  # (init_model edits its config)
    return cfg, model


def gt_box_dataset(cfg: Config, with_targets: bool = False):
    """The validation set of ``cfg`` with ground-truth boxes and keypoints.

    ``cfg.val_dataloader.dataset`` without ``bbox_file`` and ``filter_cfg``, with ``test_mode=False``.

    Args:
        cfg (Config): A top-down config.
        with_targets (bool): Also encode the target heatmaps (``GenerateTarget`` with ``cfg.codec`` before
            ``PackPoseInputs``: ``gt_fields.heatmaps``, ``gt_instance_labels.keypoint_weights``). Defaults to
            False.

    Returns:
        BaseDataset: The dataset (built in the current default scope).
    """
    from mmpose.registry import DATASETS
    ds_cfg = copy.deepcopy(cfg.val_dataloader.dataset)
    ds_cfg.pop('bbox_file', None)
    ds_cfg.pop('filter_cfg', None)
    ds_cfg.test_mode = False  # GT boxes and keypoints
    if with_targets:
        pipeline = [t for t in ds_cfg.pipeline if t['type'] != 'PackPoseInputs']
        ds_cfg.pipeline = pipeline + [dict(type='GenerateTarget', encoder=cfg.codec), dict(type='PackPoseInputs')]
    return DATASETS.build(ds_cfg)
