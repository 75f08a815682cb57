"""Make ``--resume`` work with torch >= 2.6 and mmengine 0.10.7.

torch 2.6 changed the default of ``torch.load`` to ``weights_only=True``. mmengine 0.10.7 does not pass the
argument, so ``Runner.resume`` fails with ``UnpicklingError`` on the checkpoints the same run wrote (they hold
``HistoryBuffer`` objects and numpy arrays in ``message_hub``). The fix on mmengine's main branch (#1670) is not
released, so this module replaces mmengine's loader for *local* files with one that passes
``weights_only=False``. Remote schemes (``http://``, ``open-mmlab://`` ...) keep mmengine's own loaders.

Only load local checkpoints you trust: un-pickling can execute code.
"""
import os.path as osp

import torch
from mmengine.runner.checkpoint import CheckpointLoader


def load_local_checkpoint(filename: str, map_location=None) -> dict:
    """Load a local checkpoint written by MMEngine (full pickle, as before torch 2.6)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=False)


# prefixes='' is mmengine's scheme for plain paths; force=True overrides its loader.
CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint, force=True)
