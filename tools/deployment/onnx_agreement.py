#!/usr/bin/env python
"""Export a config + checkpoint to ONNX and show, image by image, how far onnxruntime is from
PyTorch (masks: pixel agreement; boxes: one-to-one matching, IoU, score difference) and, with
--speed, the time of both side by side.

    python tools/deployment/onnx_agreement.py CONFIG CHECKPOINT IMAGE|FOLDER [...] \
        [--speed REPEATS] [--threads N] [--onnx model.onnx] [--cfg-options KEY=VALUE ...]

Exit status 1 when an image misses the agreement thresholds (pixels >= 99.9%; every box
matched with IoU >= 0.99 and scores within 1e-3).
"""
import argparse
import os.path as osp
import sys
import tempfile

import torch
from mmengine.config import DictAction

from mmseq.apis import init_model
from mmseq.deployment import DEFAULT_OPSET, ExportError, export
from mmseq.deployment.agreement import format_table
from mmseq.deployment.runtime import OnnxModel, expand_images
from mmseq.deployment.speed import speed_table, time_side_by_side
from mmseq.deployment.verify import agreement_on_images


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('images', nargs='+', help='image files or folders of them')
    parser.add_argument('--onnx', help='where to keep the exported file (default: a temporary '
                        'one)')
    parser.add_argument('--shape', type=int, nargs=2, default=[375, 500], metavar=('H', 'W'),
                        help='size of the traced example (H and W stay dynamic)')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET)
    parser.add_argument('--speed', type=int, default=0, metavar='REPEATS',
                        help='also time PyTorch eager and onnxruntime (median of REPEATS)')
    parser.add_argument('--threads', type=int, default=None,
                        help='threads of both runtimes (default: torch.get_num_threads())')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    args.images = expand_images(args.images)
    missing = [p for p in [args.config, args.checkpoint, *args.images] if not osp.isfile(p)]
    if missing:
        parser.error(f'no such file: {", ".join(missing)}')
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.onnx or osp.join(tmp, 'model.onnx')
        try:
            graph, _, _ = export(args.config, path, args.checkpoint, args.shape,
                                 cfg_options=args.cfg_options, opset=args.opset)
        except ExportError as e:
            sys.exit(f'ONNX export not supported: {e}')
        if graph.task not in ('segmentation', 'detection', 'instance_segmentation'):
            sys.exit(f'{args.config}: a {graph.task} model; this tool compares segmentors and '
                     'detectors (pytorch2onnx.py --verify checks the others)')
        print(f'{args.config}: {type(graph).__name__} -> {path}')
        model = init_model(args.config, args.checkpoint, device='cpu',
                           cfg_options=args.cfg_options)
        onnx_model = OnnxModel(path, threads=threads)
        rows = agreement_on_images(model, onnx_model, args.images)
        print(format_table(rows))
        if args.speed:
            timings = []
            for image in args.images:
                data = onnx_model.load(image)
                t = time_side_by_side(model, onnx_model, data, args.speed)
                h, w = data['inputs'].shape[-2:]
                timings.append(dict(image=osp.basename(image), input=f'{w}x{h}', **t))
            print(speed_table(timings))
    if not all(r.ok for r in rows):
        sys.exit(1)


if __name__ == '__main__':
    main()
