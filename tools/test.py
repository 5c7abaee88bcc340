"""Evaluate a checkpoint of a classifier, segmentor or detector from an mmseq config.

The config's ``default_scope`` picks the library; the config's ``test_dataloader`` and
``test_evaluator`` define the data and the metric (accuracy, mIoU, COCO bbox mAP)::

    python tools/test.py CONFIG CHECKPOINT [--work-dir D] [--out preds.pkl] [--tta]
        [--show-dir DIR] [--cfg-options ...] [--device cpu|cuda|cuda:N]
    tools/dist_test.sh CONFIG CHECKPOINT 8 [args]

``--tta`` runs the config's test-time augmentation as mmseg's and mmdet's ``tools/test.py``
do: the model wrapped in ``tta_model``, the test images through ``tta_pipeline`` (the UperNet
configs define both: multi-scale and flip). ``--show-dir DIR`` writes every test image, its
ground truth beside the prediction, to ``DIR/<image name>.png`` with the config's visualizer
(in a distributed test, the first process draws the images of all).

The checkpoint is read with ``torch.load(weights_only=True)``: tensors and the few mmengine
objects allow-listed in :mod:`mmseq.utils.checkpoint`, never arbitrary pickled code. An
``http(s)://`` URL is downloaded once into torch hub's cache (``$TORCH_HOME/hub/checkpoints``)
and read the same way. A name such as ``timm://sequencer2d_s.in1k`` (the public weights,
:mod:`mmseq.utils.timm_weights`) or another mmengine checkpoint URI is handed to mmengine's
``CheckpointLoader`` as it is.
"""
import argparse
import os.path as osp

from mmengine.config import Config, ConfigDict
from mmengine.evaluator import DumpResults

from mmseq.engine.runner import add_runner_args, build_runner, config_from_args, select_device
from mmseq.utils import distributed_session, download_checkpoint, is_url


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a checkpoint')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file (e.g. written by tools/train.py), '
                        'an http(s):// URL of one, or a name such as timm://sequencer2d_s.in1k')
    parser.add_argument('--out', help='also dump the raw predictions to this .pkl file')
    parser.add_argument('--tta', action='store_true',
                        help="test-time augmentation: the config's tta_model around its model, "
                        'its tta_pipeline as the test pipeline (e.g. multi-scale + flip in '
                        'configs/upernet_seq2d_*_ade20k.py)')
    parser.add_argument('--show-dir', metavar='DIR',
                        help='write every test image, ground truth beside prediction, to '
                        'DIR/<image name>.png (relative to the current directory; in a '
                        'distributed test too, every image)')
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
    if args.tta:
        use_tta(cfg, args.config)
    if args.show_dir is not None:
        show_in(cfg, args.show_dir)
    # A URL is read like a file (weights only), from torch hub's cache: mmengine's own http
    # loader would unpickle it in full.
    cfg.load_from = download_checkpoint(args.checkpoint) if is_url(args.checkpoint) \
        else args.checkpoint
    cfg.resume = False  # weights only: no optimizer or loop state

    with distributed_session(cfg, args.launcher):
        run_test(cfg, args.out)


def use_tta(cfg: Config, config: str) -> None:
    """What mmseg's and mmdet's ``tools/test.py --tta`` do: ``tta_model`` wraps the model,
    ``tta_pipeline`` replaces the test dataset's pipeline (the innermost dataset of a wrapper
    such as ConcatDataset)."""
    missing = [key for key in ('tta_model', 'tta_pipeline') if not cfg.get(key)]
    if missing:
        raise SystemExit(
            f'--tta: {config} defines no {" and no ".join(missing)}; test-time augmentation '
            'runs the model inside tta_model on the images of tta_pipeline (see '
            'configs/upernet_seq2d_s_ade20k.py for both)')
    dataset = cfg.test_dataloader.dataset
    while 'dataset' in dataset:
        dataset = dataset.dataset
    dataset.pipeline = cfg.tta_pipeline
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)


def show_in(cfg: Config, show_dir: str) -> None:
    """Add mmseq's ShowDirHook: every test image, ground truth beside prediction, drawn by the
    config's visualizer into ``show_dir``; detection boxes from the score threshold of the
    config's visualization hook (mmdet's default 0.3)."""
    vis_hook = cfg.get('default_hooks', {}).get('visualization') or {}
    hook = dict(type='mmseq.ShowDirHook', out_dir=osp.abspath(show_dir))
    if 'score_thr' in vis_hook:
        hook['score_thr'] = vis_hook['score_thr']
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [hook]


def run_test(cfg, out=None) -> None:
    """Build the Runner and test; it is released when this returns, before the process
    group (mmseq.utils.destroy_distributed)."""
    runner = build_runner(cfg)
    if out is not None:
        runner.test_evaluator.metrics.append(DumpResults(out_file_path=out))
    runner.test()


if __name__ == '__main__':
    main()
