"""Train a classifier, segmentor or detector from an mmseq config.

The config's ``default_scope`` (mmpretrain / mmseg / mmdet) picks the library, as in each
library's own ``tools/train.py``. Single process::

    python tools/train.py configs/seq2d_s_in1k.py [--work-dir D] [--resume [CKPT|auto]] [--amp]

Distributed (GPUs with nccl, or CPUs with gloo when CUDA is unavailable)::

    tools/dist_train.sh configs/sem_fpn_seq2d_s_ade20k.py 8 [args]
"""
import argparse
import importlib
import os
import os.path as osp
import sys

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

# A checkout works without `pip install -e .`.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
# mmseq.utils also allow-lists the objects of mmengine checkpoints for weights_only loading,
# which resume and load_from need on torch >= 2.6.
from mmseq.utils import distributed_session, print_log_rank0  # noqa: E402

# Mixed precision on CPU: mmengine's AmpOptimWrapper requires a GPU; this one autocasts to
# bfloat16 instead (mmseq/engine/optim_wrapper.py).
CPU_AMP_WRAPPER = 'mmseq.AutocastOptimWrapper'
CPU_AMP_MODULE = 'mmseq.engine'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model of an mmseq config')
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto', default=None, metavar='CKPT',
        help='resume training: from CKPT, or with no value (or "auto") from the latest '
        'checkpoint in the work dir')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: AmpOptimWrapper on CUDA, bfloat16 autocast '
                        f'({CPU_AMP_WRAPPER}) on CPU')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by total batch / auto_scale_lr.base_batch_size')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries, key=value (e.g. train_cfg.max_iters=10 '
        'model.backbone.arch=m); lists as key="[a,b]"')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none',
                        help='job launcher (dist_train.sh passes pytorch)')
    # torch.distributed.launch passes --local-rank; torchrun sets $LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


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
        try:
            importlib.import_module(CPU_AMP_MODULE)
        except ImportError as err:
            raise RuntimeError(
                f'mixed precision without CUDA needs {CPU_AMP_WRAPPER} from '
                f'{CPU_AMP_MODULE}, which failed to import ({err}); to train in float32, '
                'replace the optim_wrapper with a plain OptimWrapper (docs/tools.md)') from err
        optim_wrapper.type = CPU_AMP_WRAPPER
        # bfloat16 has float32's exponent range: no loss scaling.
        optim_wrapper.pop('loss_scale', None)
        optim_wrapper.pop('use_fsdp', None)
        print_log_rank0(f'CUDA is not available: mixed precision through {CPU_AMP_WRAPPER} '
                        '(bfloat16 autocast)')


def build_runner(cfg: Config):
    """Build the default Runner, or the config's ``runner_type`` from the scope's registry."""
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    scope = cfg.get('default_scope') or 'mmengine'
    registry = importlib.import_module(f'{scope}.registry')
    return registry.RUNNERS.build(cfg)


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    # work_dir: command line > config > ./work_dirs/<config name>
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])

    configure_amp(cfg, args.amp)

    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise ValueError('--auto-scale-lr needs auto_scale_lr.base_batch_size in the config')
        cfg.auto_scale_lr.enable = True

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None  # mmengine then reads <work_dir>/last_checkpoint
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(f'--resume: checkpoint not found: {args.resume}')
        cfg.resume = True
        cfg.load_from = args.resume

    # On CPU-only machines: gloo process group and DDP without device_ids; the process
    # group is destroyed on the way out, also after an error.
    with distributed_session(cfg, args.launcher):
        runner = build_runner(cfg)
        runner.train()


if __name__ == '__main__':
    main()
