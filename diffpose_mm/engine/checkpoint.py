"""Load MMEngine checkpoints with ``torch.load(weights_only=True)`` and an allowlist, not a full unpickle.

torch >= 2.6 loads with ``weights_only=True`` by default, and MMEngine 0.10.7 does not pass the argument, so
``--resume`` and ``load_from`` fail on the checkpoints MMEngine itself writes: their ``message_hub`` holds
``HistoryBuffer`` objects (numpy arrays inside, and ``HistoryBuffer.min`` etc. pickled as
``getattr(HistoryBuffer, 'min')``). Instead of un-pickling everything (which runs any code a file carries),
:func:`mmengine_checkpoint_globals` allows exactly those types for the duration of one load:

- ``mmengine.logging.HistoryBuffer``;
- numpy arrays, scalars and dtypes (``_reconstruct``, ``scalar``, ``ndarray``, ``dtype`` and its per-type
  classes);
- ``builtins.getattr`` replaced by :func:`history_buffer_getattr`, which only returns HistoryBuffer's four
  statistics methods.

Anything else (e.g. ``os.system``) fails with :class:`CheckpointLoadError` naming the file and the type. Nothing
is changed process-wide: :class:`DiffPoseRunner` and the tools enter the context around their own loads.

**Opt-in for fully trusted files** (e.g. a checkpoint holding other custom objects): torch's own switch,
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` in the environment, makes MMEngine's ``torch.load`` un-pickle fully.
"""
import os.path as osp
import pickle
import re
import zipfile
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` as the checkpoints of MMEngine need it: only ``HistoryBuffer.<min|max|current|mean>``."""
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_STATISTICS:
        return getattr(obj, name)
    raise pickle.UnpicklingError(f'Unsupported global: getattr({obj!r}, {name!r}) is not one of the HistoryBuffer '
                                 'statistics an MMEngine checkpoint holds')


def _numpy_dtype_classes() -> list:
    dtypes = getattr(np, 'dtypes', None)  # numpy >= 1.25
    return [getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')] if dtypes else []


# Exactly the non-tensor types in the checkpoints MMEngine 0.10.7 writes (checked with
# torch.serialization.get_unsafe_globals_in_checkpoint on a checkpoint of the tiny config).
MMENGINE_CHECKPOINT_GLOBALS = [
    HistoryBuffer,
    np.core.multiarray._reconstruct,
    np.core.multiarray.scalar,
    np.ndarray,
    np.dtype,
    *_numpy_dtype_classes(),
    (history_buffer_getattr, 'builtins.getattr'),
    bytes,  # an empty numpy array (e.g. Human3.6M's metainfo ``sigmas=[]`` in ``meta.dataset_meta``) pickles as bytes()
]

TRUST_HINT = ('only if you trust the file, set TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 in the environment to load it '
              'with a full unpickle')


class CheckpointLoadError(RuntimeError):
    """A checkpoint that is corrupt, truncated or holds types outside the allowlist."""


@contextmanager
def mmengine_checkpoint_globals(filename: str = '') -> Iterator[None]:
    """Within the context, ``torch.load`` accepts MMEngine's checkpoint types (and nothing else).

    Errors from loads inside the context become :class:`CheckpointLoadError` naming ``filename`` and, for a
    refused type, the type.
    """
    try:
        with torch.serialization.safe_globals(MMENGINE_CHECKPOINT_GLOBALS):
            yield
    except pickle.UnpicklingError as e:
        # torch names the refused global as "GLOBAL module.name" (e.g. "GLOBAL posix.system")
        match = re.search(r'GLOBAL ([\w.]+)', str(e)) or re.search(r'(getattr\([^)]*\))', str(e))
        what = match.group(1) if match else str(e).strip().splitlines()[-1]
        raise CheckpointLoadError(f'checkpoint {filename} holds a type that is not allowed to load: {what}. '
                                  f'MMEngine checkpoints need only HistoryBuffer, numpy types and bytes; '
                                  f'{TRUST_HINT}') from e
    except (RuntimeError, OSError, EOFError, zipfile.BadZipFile) as e:
        if isinstance(e, CheckpointLoadError) or not _is_corrupt_file_error(e):
            raise
        raise CheckpointLoadError(f'checkpoint {filename} is truncated or corrupt and cannot be read '
                                  f'({type(e).__name__}: {str(e).splitlines()[0]})') from e


def _is_corrupt_file_error(e: BaseException) -> bool:
    text = str(e)
    return isinstance(e, (EOFError, zipfile.BadZipFile)) or any(
        s in text
        for s in ('PytorchStreamReader', 'zip archive', 'invalid load key', 'Ran out of input', 'Invalid argument'))


def load_checkpoint_file(filename: str, map_location: Any = 'cpu') -> dict:
    """``torch.load`` a local MMEngine checkpoint with the allowlist above (for tools and tests)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} does not exist')
    with mmengine_checkpoint_globals(filename):
        return torch.load(filename, map_location=map_location)
