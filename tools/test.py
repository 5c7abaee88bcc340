"""Evaluate a checkpoint of a classifier, segmentor or detector from an mmseq config.

The config's ``default_scope`` picks the library; the config's ``test_dataloader`` and
``test_evaluator`` define the data and the metric (accuracy, mIoU, COCO bbox mAP)::

    python tools/test.py CONFIG CHECKPOINT [--work-dir D] [--out preds.pkl] [--cfg-options ...]
        [--device cpu|cuda|cuda:N]
    tools/dist_test.sh CONFIG CHECKPOINT 8 [args]

The checkpoint is read with ``torch.load(weights_only=True)``: tensors and the few mmengine
objects allow-listed in :mod:`mmseq.utils.checkpoint`, never arbitrary pickled code. A name
such as ``timm://sequencer2d_s.in1k`` (the public weights, :mod:`mmseq.utils.timm_weights`) or
another mmengine checkpoint URI is handed to mmengine's ``CheckpointLoader`` as it is.
"""
import argparse
import os.path as osp

from mmengine.evaluator import DumpResults

from mmseq.engine.runner import add_runner_args, build_runner, config_from_args, select_device
from mmseq.utils import distributed_session


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a checkpoint')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file (e.g. written by tools/train.py) '
                        'or a name such as timm://sequencer2d_s.in1k')
    parser.add_argument('--out', help='also dump the raw predictions to this .pkl file')
    add_runner_args(parser, work_dir_help='where logs and the metrics json go')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    select_device(args)
    if '://' not in args.checkpoint and not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        raise ValueError(f'--out must name a .pkl file, got {args.out}')

    cfg = config_from_args(args)
    cfg.load_from = args.checkpoint
    cfg.resume = False  # weights only: no optimizer or loop state

    with distributed_session(cfg, args.launcher):
        run_test(cfg, args.out)


def run_test(cfg, out=None) -> None:
    """Build the Runner and test; it is released when this returns, before the process
    group (mmseq.utils.destroy_distributed)."""
    runner = build_runner(cfg)
    if out is not None:
        runner.test_evaluator.metrics.append(DumpResults(out_file_path=out))
    runner.test()


if __name__ == '__main__':
    main()
