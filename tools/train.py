"""Train a classifier, segmentor or detector from an mmseq config.

The config's ``default_scope`` (mmpretrain / mmseg / mmdet) picks the library, as in each
library's own ``tools/train.py``. Single process::

    python tools/train.py configs/seq2d_s_in1k.py [--work-dir D] [--resume [CKPT|auto]] [--amp]
        [--device cpu|cuda|cuda:N]

Distributed (GPUs with nccl, or CPUs with gloo when CUDA is unavailable)::

    tools/dist_train.sh configs/sem_fpn_seq2d_s_ade20k.py 8 [args]

A machine with an NVIDIA driver that this torch cannot use stops with a message instead of
training on the CPU, unless ``--device cpu`` (or ``MMSEQ_DEVICE=cpu``) says so.
"""
import argparse
import os.path as osp

from mmseq.engine.runner import (CPU_AMP_WRAPPER, add_runner_args, build_runner,
                                 config_from_args, configure_amp, select_device)
# mmseq.utils also allow-lists the objects of mmengine checkpoints for weights_only loading,
# which resume and load_from need on torch >= 2.6.
from mmseq.utils import distributed_session


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model of an mmseq config')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto', default=None, metavar='CKPT',
        help='resume training: from CKPT, or with no value (or "auto") from the latest '
        'checkpoint in the work dir')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: AmpOptimWrapper on CUDA, bfloat16 autocast '
                        f'({CPU_AMP_WRAPPER}) on CPU')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by total batch / auto_scale_lr.base_batch_size')
    add_runner_args(parser, work_dir_help='where logs and checkpoints go')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    select_device(args)
    cfg = config_from_args(args)
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
    # group is destroyed on the way out, also after an error. No name holds the Runner, so
    # it is freed before the group (mmseq.utils.destroy_distributed).
    with distributed_session(cfg, args.launcher):
        build_runner(cfg).train()


if __name__ == '__main__':
    main()
