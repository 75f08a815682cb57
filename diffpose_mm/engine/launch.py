"""Run MMPose's own ``tools/train.py`` / ``tools/test.py`` with the two shims this project needs.

``tools/train.py`` and ``tools/test.py`` of this repository (also shipped as ``diffpose_mm/.mim/tools`` for
``mim train/test diffpose_mm``) call :func:`run_mmpose_tool`; nothing here runs on ``import diffpose_mm``.

1. **Checkpoints are loaded with an allowlist** (:mod:`.checkpoint`): the whole run is inside
   :func:`mmengine_checkpoint_globals`, so ``--resume``, ``load_from`` and the test checkpoint load with
   ``weights_only=True`` on torch >= 2.6, and a file carrying other types fails naming the file and the type.
2. **Distributed on CPU-only machines** (``--launcher pytorch`` without CUDA): MMEngine 0.10.7's ``init_dist``
   calls ``torch.cuda.set_device`` unconditionally ("Found no NVIDIA driver"), and its DDP wrapper passes
   ``device_ids=[LOCAL_RANK]``, which DDP refuses for CPU modules. So the process group is initialised here
   with ``gloo`` (MMEngine then skips ``init_dist``), and ``model_wrapper_cfg`` gets ``device_ids=None``.
   With CUDA nothing changes (NCCL as configured).
"""
import argparse
import os
import os.path as osp
import runpy
import sys
import tempfile
from datetime import timedelta
from typing import List, Optional

import mmpose
import torch
import torch.distributed as dist
from mmengine.config import Config

from .checkpoint import mmengine_checkpoint_globals

# appended to --cfg-options for CPU-only distributed runs (the same DDP settings MMEngine uses on GPUs)
CPU_DDP_CFG_OPTIONS = ('model_wrapper_cfg.type=MMDistributedDataParallel', 'model_wrapper_cfg.device_ids=None',
                       'model_wrapper_cfg.broadcast_buffers=False', 'env_cfg.dist_cfg.backend=gloo')


def _known_args(tool: str, argv: List[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('config', nargs='?')
    if tool == 'test':
        parser.add_argument('checkpoint', nargs='?')
    parser.add_argument('--resume', nargs='?', const='auto')
    parser.add_argument('--launcher', default='none')
    parser.add_argument('--work-dir')
    return parser.parse_known_args(argv)[0]


def check_work_dir(work_dir: str) -> None:
    """Fail before anything runs when ``work_dir`` cannot be created or written (MMEngine would fail later,
    after building the model and data, with an error about a log file)."""
    try:
        os.makedirs(work_dir, exist_ok=True)
        with tempfile.TemporaryFile(dir=work_dir):
            pass
    except OSError as e:
        raise PermissionError(f'work dir {work_dir} is not writable ({e.strerror}); choose another with '
                              '--work-dir') from e


def init_cpu_process_group() -> None:
    """``gloo`` process group from the ``torch.distributed.run`` environment (RANK, WORLD_SIZE, MASTER_*)."""
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo', timeout=timedelta(seconds=1800))


def release_process_group() -> None:
    """Destroy the default process group, if there is one, while the interpreter is fully alive, as PyTorch asks
    (``destroy_process_group`` on exit; a group left to interpreter finalization is a known source of aborts,
    pytorch/pytorch#190489). It did not remove the intermittent SIGABRT after a finished two-process CPU run
    (README, "Several processes"), whose cause is still open."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def run_mmpose_tool(tool: str, argv: Optional[List[str]] = None) -> None:
    """Run MMPose's ``tools/<tool>.py`` (``'train'`` or ``'test'``) as ``__main__`` with ``argv``."""
    script = osp.join(osp.dirname(mmpose.__file__), '.mim', 'tools', f'{tool}.py')
    if not osp.isfile(script):
        raise FileNotFoundError(f'MMPose {tool} script not found at {script}: install mmpose from its wheel '
                                '(pip install mmpose==1.3.2 --no-deps), not in editable mode.')
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _known_args(tool, argv)
    if args.config:  # MMPose's order: --work-dir, the config's work_dir, ./work_dirs/<config name>
        check_work_dir(
            args.work_dir or Config.fromfile(args.config).get('work_dir')
            or osp.join('./work_dirs',
                        osp.splitext(osp.basename(args.config))[0]))
    if args.launcher == 'pytorch' and not torch.cuda.is_available():
        init_cpu_process_group()
        argv += ['--cfg-options', *CPU_DDP_CFG_OPTIONS]
    checkpoint = getattr(args, 'checkpoint', None) or (args.resume if args.resume not in (None, 'auto') else None)
    where = checkpoint or f'(resumed or load_from of {args.config})'
    sys.argv = [script] + argv
    os.environ.setdefault('PYTHONUNBUFFERED', '1')
    with mmengine_checkpoint_globals(where):
        try:
            runpy.run_path(script, run_name='__main__')
        finally:  # the group of a distributed run (ours on CPU, MMEngine's with CUDA)
            release_process_group()
