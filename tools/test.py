"""Evaluate a checkpoint of a classifier, segmentor or detector from an mmseq config.

The config's ``default_scope`` picks the library; the config's ``test_dataloader`` and
``test_evaluator`` define the data and the metric (accuracy, mIoU, COCO bbox mAP)::

    python tools/test.py CONFIG CHECKPOINT [--work-dir D] [--out preds.pkl] [--cfg-options ...]
    tools/dist_test.sh CONFIG CHECKPOINT 8 [args]

The checkpoint is read with ``torch.load(weights_only=True)``: tensors and the few mmengine
objects allow-listed in :mod:`mmseq.utils.checkpoint`, never arbitrary pickled code.
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction
from mmengine.evaluator import DumpResults

_TOOLS = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, osp.dirname(_TOOLS))
sys.path.insert(0, _TOOLS)
from mmseq.utils import distributed_session  # noqa: E402

from train import build_runner  # noqa: E402  (tools/train.py: the same runner choice)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a checkpoint')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file (e.g. written by tools/train.py)')
    parser.add_argument('--work-dir', help='where logs and the metrics json go '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument('--out', help='also dump the raw predictions to this .pkl file')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries, key=value (e.g. test_dataloader.batch_size=4)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none',
                        help='job launcher (dist_test.sh passes pytorch)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        raise ValueError(f'--out must name a .pkl file, got {args.out}')

    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    cfg.resume = False  # weights only: no optimizer or loop state

    with distributed_session(cfg, args.launcher):
        runner = build_runner(cfg)
        if args.out is not None:
            runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
        runner.test()


if __name__ == '__main__':
    main()
