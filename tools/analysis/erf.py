r"""Effective receptive fields of every block of one or more models, side by side (paper Sec. 4.5
and App. D, eqs. 8-9).

For each block, the summed centre output (all channels at the centre of the block's output map,
summed over the batch) is differentiated w.r.t. the preprocessed input images; the positive part
is summed over images and channels (eq. 8), mapped through log10(x + 1) (eq. 9) and rescaled to
[0, 1] across all compared models and blocks.

Blocks are found by backbone type (Sequencer: ``backbone.stages.*.blocks.*``; ConvNeXt:
``backbone.stages.*.*``; ResNet: ``backbone.layer*.*``; Swin: ``backbone.stages.*.blocks.*``;
ViT/DeiT: ``backbone.layers.*``) or by ``--layers PATTERN --layout LAYOUT``.

Example (paper Fig. 5 / App. D at 224 px, 50 validation images), Sequencer2D-S (the public
timm weights) against mmpretrain's ConvNeXt-T (its model ``convnext-tiny_32xb128_in1k``: config
and weights as mmpretrain's metafile names them; the URL is downloaded once into torch hub's
cache)::

    M=$(python -c 'import mmpretrain, os; print(os.path.dirname(mmpretrain.__file__))')/.mim/configs
    CONVNEXT=https://download.openmmlab.com/mmclassification/v0/convnext/convnext-tiny_32xb128_in1k_20221207-998cf3e9.pth
    python tools/analysis/erf.py configs/seq2d_s_in1k.py $M/convnext/convnext-tiny_32xb128_in1k.py \
        --checkpoints timm://sequencer2d_s.in1k $CONVNEXT --names Seq2D-S ConvNeXt-T \
        --images data/imagenet/val --num-images 50 --resolution 224 --out-dir work_dirs/erf

Writes ``erf.png`` (a group of rows per model, its blocks left to right), ``erf.json`` (per
block: output size, score range, mean score on/off the centre row and column, area ratios) and
``erf_maps.npz`` (raw scores S per block, key ``"<model>/<module name>"``).
"""
import argparse
import json
import math
import os
import os.path as osp

import numpy as np
import torch
from mmengine.config import DictAction
from mmengine.utils import ProgressBar

from mmseq.analysis import (build_model, erf_contributions, erf_layers, erf_score, erf_summary,
                            list_images, load_inputs, pipeline_at_resolution, rescale_scores)
from mmseq.utils import get_test_pipeline, load_config


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('configs', nargs='+', help='one config per compared model')
    p.add_argument('--checkpoints', nargs='+', default=None,
                   help='one per config: a file, an http(s):// URL or timm://sequencer2d_'
                   '{s,m,l}.in1k; "none" keeps the random initialisation')
    p.add_argument('--names', nargs='+', default=None, help='labels (default: config names)')
    p.add_argument('--images', required=True, help='folder of images (searched recursively)')
    p.add_argument('--num-images', type=int, default=50)
    p.add_argument('--resolution', type=int, default=224, help='input size (224, 448 in App. D)')
    p.add_argument('--batch-size', type=int, default=4)
    p.add_argument('--layers', nargs='+', default=None,
                   help='module-name pattern per config instead of the default blocks '
                        '("*" matches one name segment), e.g. backbone.stages.*.*')
    p.add_argument('--layout', nargs='+', default=None, choices=['nchw', 'nhwc', 'tokens'],
                   help='output layout of the --layers modules, per config')
    p.add_argument('--rescale', default='global', choices=['global', 'model', 'block'],
                   help='rescale to [0, 1] over all models and blocks (paper), per model, '
                        'or per block')
    p.add_argument('--out-dir', required=True)
    p.add_argument('--device', default='cpu')
    p.add_argument('--cmap', default='viridis')
    p.add_argument('--max-cols', type=int, default=9, help='blocks per row of the figure')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default=None,
                   help='overrides applied to every config')
    args = p.parse_args(argv)
    n = len(args.configs)
    for key in ('checkpoints', 'names', 'layers', 'layout'):
        value = getattr(args, key)
        if value is not None and len(value) != n:
            p.error(f'--{key} needs one entry per config ({n}), got {len(value)}')
    if (args.layers is None) != (args.layout is None):
        p.error('--layers and --layout go together')
    return args


def plot(rescaled, names, out_file, cmap, max_cols):
    """One group of rows per model (its blocks wrapped at ``max_cols``), one colour scale."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    cols = min(max_cols, max(len(maps) for maps in rescaled.values()))
    groups = [math.ceil(len(rescaled[name]) / cols) for name in names]
    fig, axes = plt.subplots(sum(groups), cols, figsize=(1.2 * cols + 1.2, 1.3 * sum(groups)),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis('off')
    row, image = 0, None
    for name, rows in zip(names, groups):
        for k, (layer, score) in enumerate(rescaled[name].items()):
            ax = axes[row + k // cols][k % cols]
            ax.axis('on')
            ax.set_xticks([])
            ax.set_yticks([])
            image = ax.imshow(score, cmap=cmap, vmin=0, vmax=1)
            ax.set_title(f'block {k + 1}', fontsize=7)
            if k == 0:
                ax.set_ylabel(name, fontsize=8)
        row += rows
    fig.subplots_adjust(left=0.04, right=0.86, top=0.95, bottom=0.02, wspace=0.08, hspace=0.3)
    fig.colorbar(image, cax=fig.add_axes([0.88, 0.2, 0.015, 0.6]))
    fig.savefig(out_file, dpi=72)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    paths = list_images(args.images, args.num_images)
    n = len(args.configs)
    names = args.names or [osp.splitext(osp.basename(c))[0] for c in args.configs]
    if len(set(names)) != n:
        raise ValueError(f'model names must be unique, got {names}; pass --names')
    checkpoints = [None if c in (None, 'none') else c for c in (args.checkpoints or [None] * n)]

    scores, report = {}, dict(resolution=args.resolution, num_images=len(paths),
                              rescale=args.rescale, models=[])
    for i, (config, ckpt, name) in enumerate(zip(args.configs, checkpoints, names)):
        cfg = load_config(config, args.cfg_options)
        model = build_model(cfg, ckpt, args.device)
        pattern = args.layers[i] if args.layers else None
        layout = args.layout[i] if args.layout else None
        layers = erf_layers(model, pattern, layout)
        pipeline = pipeline_at_resolution(get_test_pipeline(cfg), args.resolution)

        print(f'{name}: {len(layers)} blocks x {len(paths)} images at {args.resolution} px')
        bar = ProgressBar(len(layers) * math.ceil(len(paths) / args.batch_size))
        batches = (load_inputs(model, paths[s:s + args.batch_size], pipeline).to(args.device)
                   for s in range(0, len(paths), args.batch_size))
        results = erf_contributions(model, batches, layers, progress=bar.update)
        print()
        scores[name] = {layer: erf_score(r['contribution']) for layer, r in results.items()}
        report['models'].append(dict(
            name=name, config=config, checkpoint=ckpt,
            blocks=[dict(name=layer, **erf_summary(r['contribution'], r['out_hw']))
                    for layer, r in results.items()]))
        del model

    rescaled = rescale_scores(scores, args.rescale)
    png = osp.join(args.out_dir, 'erf.png')
    plot(rescaled, names, png, args.cmap, args.max_cols)
    np.savez_compressed(osp.join(args.out_dir, 'erf_maps.npz'), **{
        f'{name}/{layer}': s.astype(np.float32)
        for name, maps in scores.items() for layer, s in maps.items()})
    with open(osp.join(args.out_dir, 'erf.json'), 'w') as f:
        json.dump(report, f, indent=1)
    for m in report['models']:
        ratios = ' '.join('inf' if b['cross_ratio'] is None else f'{b["cross_ratio"]:.2f}'
                          for b in m['blocks'])
        print(f'{m["name"]}: on-/off-centre-cross score ratio per block: {ratios}')
    print(f'wrote {png}, erf.json and erf_maps.npz in {args.out_dir}')


if __name__ == '__main__':
    if 'OMP_NUM_THREADS' not in os.environ:
        torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    main()
