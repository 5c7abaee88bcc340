"""Distributed runs on machines without CUDA (torch.distributed with gloo).

mmengine 0.10.7 assumes GPUs in two places: its ``pytorch``/``slurm`` launchers call
``torch.cuda.set_device(local_rank)`` before ``init_process_group``, and it wraps the model in
DDP with ``device_ids=[LOCAL_RANK]``, which DDP rejects for CPU modules. It skips its own init
when a process group already exists and takes ``device_ids`` from ``model_wrapper_cfg`` over
its default, so :func:`setup_cpu_distributed` initialises gloo itself and sets
``device_ids=None``. The tools call it only when CUDA is unavailable: GPU runs go through
mmengine untouched (nccl, one device per process).
"""
import contextlib
import datetime
import gc
import inspect
import logging
import os
import subprocess
import traceback
from typing import Iterator, List, Optional

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log

_LAUNCHERS = ('pytorch', 'slurm')


def _slurm_env() -> None:
    """RANK / WORLD_SIZE / MASTER_* from slurm's variables, as mmengine's slurm launcher."""
    for key in ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST'):
        if key not in os.environ:
            raise RuntimeError(f'--launcher slurm needs ${key}; run the tool through srun '
                               '(tools/slurm_train.sh / tools/slurm_test.sh)')
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')
    os.environ.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in os.environ:
        node_list = os.environ['SLURM_NODELIST']
        os.environ['MASTER_ADDR'] = subprocess.getoutput(
            f'scontrol show hostname {node_list} | head -n1')


def print_log_rank0(message: str) -> None:
    """Log once per job before the Runner exists (every process would print otherwise)."""
    if os.environ.get('RANK', os.environ.get('SLURM_PROCID', '0')) == '0':
        print_log(message, logger='current')


def _replace_sync_bn(node, found: list):
    """Turn every ``type='SyncBN'`` in a config tree into ``'BN'`` (SyncBN needs CUDA)."""
    if isinstance(node, dict):
        if node.get('type') in ('SyncBN', 'MMSyncBN'):
            found.append(node['type'])
            node['type'] = 'BN'
        for value in node.values():
            _replace_sync_bn(value, found)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _replace_sync_bn(value, found)


def _no_forward_buffer_sync() -> dict:
    """DDP's option for mmengine's ``broadcast_buffers=False``, in the spelling this torch
    takes without a warning.

    torch 2.14 deprecates ``broadcast_buffers`` (a FutureWarning from every rank) for
    ``forward_sync_buffers``, which also skips the broadcast before each forward but copies
    rank 0's buffers once when DDP is built. mmengine's Runner wraps the model before it loads
    a checkpoint, when every rank's buffers still hold the same initial values (e.g.
    BatchNorm's zero means and unit variances), so that copy changes nothing.
    """
    params = inspect.signature(torch.nn.parallel.DistributedDataParallel.__init__).parameters
    if 'forward_sync_buffers' in params:
        return dict(forward_sync_buffers=False)
    return dict(broadcast_buffers=False)


def check_gpus_per_node(launcher: str) -> None:
    """Fail clearly where a node runs more processes than it has visible GPUs.

    mmengine's launchers give each process GPU ``local rank`` (``pytorch``:
    ``torch.cuda.set_device(LOCAL_RANK)``, which fails with "invalid device ordinal" in the
    processes beyond the last GPU; ``slurm``: ``SLURM_PROCID % device_count``, which puts two
    processes on one GPU, where nccl fails). Every process of such a node stops here with the
    same message: torchrun's ``LOCAL_WORLD_SIZE`` counts the node's processes; without it
    (slurm, torch.distributed.launch) the local rank decides. Nothing happens without CUDA or
    a launcher.
    """
    if launcher == 'none' or not torch.cuda.is_available():
        return
    gpus = torch.cuda.device_count()
    if launcher == 'slurm':
        local_rank = os.environ.get('SLURM_LOCALID')
        procs = None
    else:
        local_rank = os.environ.get('LOCAL_RANK')
        procs = os.environ.get('LOCAL_WORLD_SIZE')
    if procs is not None and procs.isdigit():
        needed = int(procs)
        who = f'{needed} processes on this node'
    elif local_rank is not None and local_rank.isdigit():
        needed = int(local_rank) + 1
        who = f'local rank {local_rank} (so at least {needed} processes on this node)'
    else:
        return
    if needed > gpus:
        raise RuntimeError(
            f'{who}, but {gpus} visible GPU(s) (CUDA_VISIBLE_DEVICES='
            f'{os.environ.get("CUDA_VISIBLE_DEVICES")!r}): one process per GPU, i.e. '
            f'tools/dist_train.sh CONFIG {gpus}; or gloo on the CPU: CUDA_VISIBLE_DEVICES=-1')


def setup_cpu_distributed(cfg: Config, launcher: str) -> bool:
    """Prepare a distributed run on CPU: gloo process group and a CPU-capable DDP wrapper.

    Does nothing (returns False) for ``launcher='none'`` or when CUDA is available.

    Otherwise it initialises the default process group with the gloo backend from the
    launcher's environment (``torchrun``: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT; slurm:
    SLURM_*), and edits ``cfg`` in place: ``env_cfg.dist_cfg.backend='gloo'``,
    ``model_wrapper_cfg.device_ids=None``, SyncBN layers replaced by BN (batch statistics
    per process, as SyncBN cannot run on CPU tensors). Each change is logged.

    Returns:
        bool: True if this call initialised the process group (the caller then owns it and
        should release it with :func:`destroy_distributed`, e.g. via :func:`distributed_session`).
    """
    if launcher == 'none' or torch.cuda.is_available():
        return False
    if launcher not in _LAUNCHERS:
        raise ValueError(f'launcher {launcher!r} cannot run without CUDA here; '
                         f'use one of {_LAUNCHERS} or "none"')
    if not dist.is_available():
        raise RuntimeError('torch.distributed is not available in this torch build')

    dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}))
    backend = dist_cfg.pop('backend', 'gloo')
    if backend != 'gloo':
        print_log_rank0(f'CUDA is not available: the gloo backend instead of {backend!r}')
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'

    # DDP on CPU modules takes device_ids=None. Other wrapper options keep mmengine's
    # defaults: buffers are not broadcast from rank 0 before each forward, and
    # find_unused_parameters comes from the config.
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel',
        **_no_forward_buffer_sync(),
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper

    found: list = []
    _replace_sync_bn(cfg.get('model'), found)
    if found:
        print_log_rank0(f'CUDA is not available: {len(found)} SyncBN config(s) run as BN '
             '(per-process batch statistics)')
    if cfg.get('sync_bn') is not None:
        print_log_rank0('CUDA is not available: ignoring sync_bn=' + repr(cfg.pop('sync_bn')))

    if dist.is_initialized():
        return False
    if launcher == 'slurm':
        _slurm_env()
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        if key not in os.environ:
            raise RuntimeError(f'--launcher {launcher} needs ${key}; start the tool with '
                               'tools/dist_train.sh / tools/dist_test.sh (torchrun)')
    os.environ.setdefault('LOCAL_RANK', '0')
    timeout = dist_cfg.pop('timeout', None)
    if timeout is not None:
        dist_cfg['timeout'] = datetime.timedelta(seconds=timeout)
    dist.init_process_group(
        backend='gloo',
        rank=int(os.environ['RANK']),
        world_size=int(os.environ['WORLD_SIZE']),
        **dist_cfg)
    return True


def destroy_distributed() -> None:
    """Release the default process group if one exists, and with it its threads.

    ``destroy_process_group`` only unregisters the group: the gloo backend (its transport
    thread ``gloo_tcp_loop`` and worker threads ``pt_gloo_runloop``) lives on while anything
    holds it, and DDP's reducer does. mmengine's Runner sits in reference cycles, so without
    a collection here the Runner, its DDP model and the gloo threads survive into interpreter
    exit, where a rank occasionally dies with ``terminate called without an active exception``
    (SIGABRT) after its work is done. Collecting first frees them while Python is still whole.
    """
    gc.collect()
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
        left = [name for name in _native_threads() if 'gloo' in name]
        if left:
            print_log(f'{len(left)} gloo thread(s) outlived the process group ({left}): '
                      'something still holds it (e.g. a DDP model), and the process may '
                      'abort at exit', logger='current', level=logging.WARNING)


def _native_threads() -> List[str]:
    """Names of this process's threads (Linux; empty elsewhere)."""
    try:
        tasks = os.listdir('/proc/self/task')
    except OSError:
        return []
    names = []
    for task in tasks:
        try:
            with open(f'/proc/self/task/{task}/comm') as f:
                names.append(f.read().strip())
        except OSError:  # the thread ended meanwhile
            pass
    return names


@contextlib.contextmanager
def distributed_session(cfg: Config, launcher: str) -> Iterator[Optional[bool]]:
    """``with distributed_session(cfg, launcher):`` checks that a GPU node has a GPU per
    process (:func:`check_gpus_per_node`), sets up CPU distribution when needed and destroys
    the process group on the way out, also when the body raises.

    Keep no reference to the Runner beyond the block (e.g. ``build_runner(cfg).train()``, or
    build it in a function called there): whatever is still referenced when the block ends
    keeps the gloo group's threads alive until interpreter exit (see
    :func:`destroy_distributed`).
    """
    check_gpus_per_node(launcher)
    owned = setup_cpu_distributed(cfg, launcher)
    try:
        yield owned
    except BaseException as e:
        # the traceback's frames would keep the Runner (and its DDP model) alive
        traceback.clear_frames(e.__traceback__)
        raise
    finally:
        if owned or (launcher != 'none' and not torch.cuda.is_available()):
            destroy_distributed()
