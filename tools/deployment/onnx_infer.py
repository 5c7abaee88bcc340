#!/usr/bin/env python
"""Run an exported segmentor or detector with onnxruntime on images and draw the results as
tools/demo.py does; --verify compares with the PyTorch model on the same images.

    python tools/deployment/onnx_infer.py MODEL.onnx IMAGE [IMAGE ...] --out-dir vis \
        [--score-thr 0.3] [--opacity 0.5] [--threads N] [--verify CONFIG CHECKPOINT]
"""
import argparse
import os.path as osp
import sys

from mmseq.deployment import ExportError
from mmseq.deployment.runtime import OnnxModel, expand_images
from mmseq.deployment.visualization import draw_prediction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument('model', help='.onnx file from tools/deployment/pytorch2onnx.py')
    parser.add_argument('images', nargs='+', help='image files or folders of them')
    parser.add_argument('--out-dir', help='where to write one visualisation per image (png)')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='detection: lowest score of a drawn box')
    parser.add_argument('--opacity', type=float, default=0.5,
                        help='segmentation: opacity of the class colours (0..1]')
    parser.add_argument('--threads', type=int, default=None, help="onnxruntime's threads")
    parser.add_argument('--verify', nargs=2, metavar=('CONFIG', 'CHECKPOINT'),
                        help='compare with this PyTorch model on the same images')
    args = parser.parse_args(argv)
    args.images = expand_images(args.images)
    if not args.out_dir and not args.verify:
        parser.error('nothing to do: give --out-dir and/or --verify')
    missing = [p for p in [args.model, *args.images] if not osp.isfile(p)]
    if missing:
        parser.error(f'no such file: {", ".join(missing)}')
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        onnx_model = OnnxModel(args.model, threads=args.threads)
    except ExportError as e:
        sys.exit(str(e))
    if args.out_dir:
        for image in args.images:
            out = osp.join(args.out_dir, osp.splitext(osp.basename(image))[0] + '.png')
            summary = draw_prediction(image, onnx_model.predict(image),
                                      onnx_model.dataset_meta, out, args.score_thr,
                                      args.opacity)
            print(f'{out}: {summary}')
    if args.verify:
        from mmseq.apis import init_model
        from mmseq.deployment.agreement import format_table
        from mmseq.deployment.verify import agreement_on_images
        model = init_model(args.verify[0], args.verify[1], device='cpu')
        rows = agreement_on_images(model, onnx_model, args.images)
        print(format_table(rows))
        if not all(r.ok for r in rows):
            sys.exit(1)


if __name__ == '__main__':
    main()
