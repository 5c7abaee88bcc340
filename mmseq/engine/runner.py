"""From a command line to an mmengine Runner: what ``tools/train.py`` and ``tools/test.py`` share.

The config's ``default_scope`` (mmpretrain / mmseg / mmdet) picks the library, as in each
library's own tools. ``--device`` is checked by :func:`select_device`; distributed runs
without CUDA are set up by :func:`mmseq.utils.distributed_session`.
"""
import argparse
import importlib
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from mmseq.utils import DEVICE_ENV, load_config, print_log_rank0, resolve_device

# Mixed precision on CPU: mmengine's AmpOptimWrapper requires a GPU; this one autocasts to
# bfloat16 instead (mmseq/engine/optim_wrapper.py, registered with this package).
CPU_AMP_WRAPPER = 'mmseq.AutocastOptimWrapper'


def add_runner_args(parser: argparse.ArgumentParser, work_dir_help: str) -> None:
    """``--work-dir``, ``--cfg-options``, ``--launcher`` and ``--local-rank``."""
    parser.add_argument('--work-dir',
                        help=f'{work_dir_help} (default: ./work_dirs/<config name>)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries, key=value (e.g. train_cfg.max_iters=10 '
        'test_dataloader.batch_size=4); lists as key="[a,b]"')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none',
                        help='job launcher (tools/dist_*.sh pass pytorch, '
                        'tools/slurm_*.sh slurm)')
    # torch.distributed.launch passes --local-rank; torchrun sets $LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument(
        '--device', default=None, metavar='{auto,cpu,cuda,cuda:N}',
        help="'cuda' (with a launcher: GPU $LOCAL_RANK in each process), 'cuda:N' (one "
        f"process), or 'cpu' on purpose (also ${DEVICE_ENV}=cpu). Default auto: CUDA where "
        'torch can use it; a machine whose NVIDIA driver this torch cannot use stops with a '
        'message instead of falling back to the CPU')


def select_device(args: argparse.Namespace) -> torch.device:
    """The device of ``--device`` (:func:`mmseq.utils.resolve_device`), checked against what
    mmengine will do with it; call it first, before the config is read.

    mmengine's Runner puts the model on CUDA whenever CUDA is available (it decides when it
    is imported), so ``--device cpu`` on such a machine stops with the way to get the CPU
    (``CUDA_VISIBLE_DEVICES=-1``). ``cuda:N`` makes GPU N the current device of a
    single-process run; with a launcher each process takes GPU ``$LOCAL_RANK``.
    """
    device = resolve_device(args.device)
    if device.type == 'cpu':
        if torch.cuda.is_available():
            raise SystemExit(
                '--device cpu: CUDA is available, and mmengine places the model on it; to run '
                'on the CPU hide the GPUs: CUDA_VISIBLE_DEVICES=-1 (mmengine\'s convention)')
        return device
    if device.index is not None:
        if args.launcher != 'none':
            raise SystemExit(f'--device {device}: with --launcher {args.launcher} every process '
                             'uses GPU $LOCAL_RANK; choose the GPUs with CUDA_VISIBLE_DEVICES '
                             "and pass --device cuda")
        torch.cuda.set_device(device)
    return device


def config_from_args(args: argparse.Namespace) -> Config:
    """The config named by ``args.config`` with ``--cfg-options`` merged, the launcher set and
    the work dir chosen (command line > config > ./work_dirs/<config name>).

    Also sets ``$LOCAL_RANK`` from ``--local-rank`` unless the launcher already did.
    """
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


def configure_amp(cfg: Config, amp: bool) -> None:
    """Turn on mixed precision for ``--amp`` and pick the wrapper this machine can run."""
    optim_wrapper = cfg.get('optim_wrapper')
    if optim_wrapper is None:
        if amp:
            raise ValueError('--amp needs an optim_wrapper in the config')
        return
    wrapper_type = optim_wrapper.get('type', 'OptimWrapper')
    if amp:
        if wrapper_type in ('AmpOptimWrapper', CPU_AMP_WRAPPER):
            print_log_rank0('--amp: mixed precision is already on in the config')
        elif wrapper_type != 'OptimWrapper':
            raise ValueError(f'--amp replaces OptimWrapper, but the config uses {wrapper_type}')
        else:
            optim_wrapper.type = 'AmpOptimWrapper'
            optim_wrapper.loss_scale = 'dynamic'
    if optim_wrapper.get('type') == 'AmpOptimWrapper' and not torch.cuda.is_available():
        optim_wrapper.type = CPU_AMP_WRAPPER
        # bfloat16 has float32's exponent range: no loss scaling.
        optim_wrapper.pop('loss_scale', None)
        optim_wrapper.pop('use_fsdp', None)
        print_log_rank0(f'CUDA is not available: mixed precision through {CPU_AMP_WRAPPER} '
                        '(bfloat16 autocast)')


def build_runner(cfg: Config) -> Runner:
    """Build the default Runner, or the config's ``runner_type`` from the scope's registry."""
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    scope = cfg.get('default_scope') or 'mmengine'
    registry = importlib.import_module(f'{scope}.registry')
    return registry.RUNNERS.build(cfg)
