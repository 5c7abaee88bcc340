r"""Resolution adaptability (paper Fig. 3a/b): top-1 of classifiers trained at one resolution and
evaluated, without fine-tuning, at others; absolute and relative to the training resolution.

Each config's test pipeline is re-targeted to every resolution r keeping its crop ratio
(Sequencer: ResizeEdge 256 -> CenterCrop 224 becomes ResizeEdge floor(r / 0.875) -> CenterCrop
r). Default resolutions: Sequencer 112..448 in steps of 28 (multiples of its stride 14: no
padding), other models 128..448 in steps of 32, as in the paper; ``--resolutions`` overrides.

Example (Fig. 3a/b on ImageNet-1K val), Sequencer2D-S (the public timm weights) against
mmpretrain's DeiT-S (its model ``deit-small_4xb256_in1k``: config and weights as mmpretrain's
metafile names them; the URL is downloaded once into torch hub's cache)::

    M=$(python -c 'import mmpretrain, os; print(os.path.dirname(mmpretrain.__file__))')/.mim/configs
    DEIT=https://download.openmmlab.com/mmclassification/v0/deit/deit-small_pt-4xb256_in1k_20220218-9425b9bb.pth
    python tools/analysis/resolution.py configs/seq2d_s_in1k.py $M/deit/deit-small_4xb256_in1k.py \
        --checkpoints timm://sequencer2d_s.in1k $DEIT --names Seq2D-S DeiT-S \
        --data-root data/imagenet --out-dir work_dirs/resolution

Writes ``resolution.png`` (absolute and relative top-1), ``resolution.csv`` and
``resolution.json``.
"""
import argparse
import copy
import csv
import json
import os
import os.path as osp
import warnings

import torch
from mmengine.config import DictAction
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmengine.utils import ProgressBar

from mmseq.analysis import (build_model, default_resolutions, pipeline_at_resolution,
                            train_resolution)
from mmseq.utils import get_test_pipeline, load_config


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('configs', nargs='+', help='classifier configs (mmpretrain)')
    p.add_argument('--checkpoints', nargs='+', default=None,
                   help='one per config: a file, an http(s):// URL or timm://sequencer2d_'
                   '{s,m,l}.in1k; "none" keeps the random initialisation')
    p.add_argument('--names', nargs='+', default=None, help='labels (default: config names)')
    p.add_argument('--resolutions', nargs='+', type=int, default=None,
                   help='for every config (default: Sequencer 112..448 in steps of 28, '
                   'other models 128..448 in steps of 32)')
    p.add_argument('--data-root', default=None,
                   help="ImageNet-layout folder replacing the test dataset's data_root")
    p.add_argument('--max-images', type=int, default=None, help='first N test images only')
    p.add_argument('--batch-size', type=int, default=None)
    p.add_argument('--num-workers', type=int, default=None)
    p.add_argument('--out-dir', required=True)
    p.add_argument('--device', default='cpu')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default=None,
                   help='overrides applied to every config')
    args = p.parse_args(argv)
    for key in ('checkpoints', 'names'):
        value = getattr(args, key)
        if value is not None and len(value) != len(args.configs):
            p.error(f'--{key} needs one entry per config ({len(args.configs)}), '
                    f'got {len(value)}')
    return args


def build_loader(cfg, resolution, args):
    loader_cfg = copy.deepcopy(cfg.get('test_dataloader') or cfg.get('val_dataloader'))
    if not loader_cfg:
        raise KeyError('the config has no test_dataloader / val_dataloader')
    dataset = loader_cfg.dataset
    dataset.pipeline = pipeline_at_resolution(get_test_pipeline(cfg), resolution)
    if args.data_root:
        dataset.data_root = args.data_root
    if args.max_images:
        dataset.indices = args.max_images
    if args.batch_size:
        loader_cfg.batch_size = args.batch_size
    if args.num_workers is not None:
        loader_cfg.num_workers = args.num_workers
    if not loader_cfg.get('num_workers'):
        loader_cfg.persistent_workers = False
    return Runner.build_dataloader(loader_cfg)


def evaluate(model, cfg, loader, bar):
    """The test loop of mmengine's Runner, without the Runner's checkpoint/log machinery."""
    evaluator = Evaluator(copy.deepcopy(cfg.get('test_evaluator') or cfg.val_evaluator))
    evaluator.dataset_meta = loader.dataset.metainfo
    with torch.no_grad():
        for data in loader:
            evaluator.process(data_samples=model.test_step(data), data_batch=data)
            bar.update()
    metrics = evaluator.evaluate(len(loader.dataset))
    top1 = next(v for k, v in metrics.items() if k.endswith('top1'))
    top5 = next((v for k, v in metrics.items() if k.endswith('top5')), None)
    return float(top1), None if top5 is None else float(top5)


def plot(report, out_file):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, (ax_abs, ax_rel) = plt.subplots(1, 2, figsize=(9, 3.6))
    for m in report['models']:
        ok = [r for r in m['results'] if r['top1'] is not None]
        res = [r['resolution'] for r in ok]
        ax_abs.plot(res, [r['top1'] for r in ok], marker='o', ms=3, label=m['name'])
        ax_rel.plot(res, [r['delta_top1'] for r in ok], marker='o', ms=3, label=m['name'])
    ax_abs.set_ylabel('Top-1 acc. (%)')
    ax_rel.set_ylabel('Δ top-1 acc. to training res. (%)')
    ax_rel.axhline(0, color='gray', lw=0.5)
    for ax, title in ((ax_abs, '(a) absolute'), (ax_rel, '(b) relative')):
        ax.set_xlabel('Resolution')
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    ax_abs.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_file, dpi=80)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    n = len(args.configs)
    names = args.names or [osp.splitext(osp.basename(c))[0] for c in args.configs]
    checkpoints = [None if c in (None, 'none') else c for c in (args.checkpoints or [None] * n)]
    report = dict(models=[])
    for config, ckpt, name in zip(args.configs, checkpoints, names):
        cfg = load_config(config, args.cfg_options)
        train_res = train_resolution(get_test_pipeline(cfg))
        resolutions = sorted(set(args.resolutions or default_resolutions(cfg)) | {train_res})
        model = build_model(cfg, ckpt, args.device)
        init_default_scope(cfg.get('default_scope', 'mmpretrain'))
        loaders = {r: build_loader(cfg, r, args) for r in resolutions}
        print(f'{name}: {len(resolutions)} resolutions x {len(loaders[train_res].dataset)} '
              f'images (trained at {train_res})')
        bar = ProgressBar(sum(len(loader) for loader in loaders.values()))
        results = []
        for r, loader in loaders.items():
            try:
                top1, top5 = evaluate(model, cfg, loader, bar)
                results.append(dict(resolution=r, top1=top1, top5=top5))
            except (RuntimeError, ValueError) as e:
                if r == train_res:  # a broken model or config, not a resolution limit
                    raise
                # e.g. a model with a fixed input size: record the failure, go on.
                warnings.warn(f'{name} at {r} px failed: {e}')
                results.append(dict(resolution=r, top1=None, top5=None, error=str(e)))
        print()
        ref = next(x['top1'] for x in results if x['resolution'] == train_res)
        for x in results:
            ok = x['top1'] is not None and ref is not None
            x['delta_top1'] = x['top1'] - ref if ok else None
        report['models'].append(dict(name=name, config=config, checkpoint=ckpt,
                                     train_resolution=train_res, results=results))
        del model

    png = osp.join(args.out_dir, 'resolution.png')
    plot(report, png)
    with open(osp.join(args.out_dir, 'resolution.json'), 'w') as f:
        json.dump(report, f, indent=1)
    with open(osp.join(args.out_dir, 'resolution.csv'), 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['model', 'resolution', 'top1', 'top5', 'delta_top1'])
        for m in report['models']:
            for x in m['results']:
                writer.writerow([m['name'], x['resolution'], x['top1'], x['top5'],
                                 x['delta_top1']])
                top1 = 'failed' if x['top1'] is None else f'{x["top1"]:.2f}'
                delta = '' if x['delta_top1'] is None else f' ({x["delta_top1"]:+.2f})'
                print(f'{m["name"]} @ {x["resolution"]}: top-1 {top1}{delta}')
    print(f'wrote {png}, resolution.csv and resolution.json in {args.out_dir}')


if __name__ == '__main__':
    if 'OMP_NUM_THREADS' not in os.environ:
        torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    main()
