#!/usr/bin/env python
"""Export an mmseq model to ONNX: a whole segmentor or detector, a classifier, or a backbone.

    python tools/deployment/pytorch2onnx.py CONFIG [CHECKPOINT] --shape H W --out model.onnx \
        [--backbone-only] [--verify] [--optimize] [--int8] [--cfg-options KEY=VALUE ...]

Segmentors (Semantic FPN, UperNet) and detectors (RetinaNet, Faster/Mask R-CNN) export whole:
the graph takes the test pipeline's resized image as float32 pixels and holds the data
preprocessor (channel order, normalisation, padding), the network and the post-processing
(argmax; NMS). Classifiers export to logits and ``--backbone-only`` to the feature maps, both
from the normalised batch. ``--shape`` is the size of the example traced; height and width
stay dynamic. ``--optimize`` also writes ``model_opt.onnx`` (onnxruntime's graph
optimisations applied offline) and ``--int8`` ``model_int8.onnx`` (dynamic INT8 quantization
of the MatMul and Conv weights). docs/deployment.md has the details.
"""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction

from mmseq.deployment import DEFAULT_OPSET, ExportError, export
from mmseq.deployment.optimize import DEFAULT_INT8_OPS, INT8_OPS, variants
from mmseq.deployment.verify import verify_export


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument('config', help='config file (segmentor, detector or classifier)')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='full-model checkpoint; random weights when omitted')
    parser.add_argument('--shape', type=int, nargs=2, default=[224, 224], metavar=('H', 'W'),
                        help='size of the traced example (H and W stay dynamic)')
    parser.add_argument('--out', required=True, help='output .onnx file')
    parser.add_argument('--backbone-only', action='store_true',
                        help='export the backbone (one output per out_indices entry)')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. model.backbone.out_indices=[0,1,2,3]')
    parser.add_argument('--verify', action='store_true',
                        help='run the file with onnxruntime and compare with PyTorch on an '
                        'example of --shape (and on an odd size)')
    parser.add_argument('--optimize', action='store_true',
                        help="also write OUT_opt.onnx: onnxruntime's graph optimisations "
                        '(extended level) applied offline')
    parser.add_argument('--int8', action='store_true',
                        help='also write OUT_int8.onnx: dynamic INT8 quantization')
    parser.add_argument('--int8-ops', nargs='+', default=list(DEFAULT_INT8_OPS),
                        choices=INT8_OPS, help='operators --int8 quantizes dynamically '
                        f'(default: {" ".join(DEFAULT_INT8_OPS)})')
    parser.add_argument('--calibrate', nargs='+', default=(), metavar='IMAGE',
                        help='--int8: images (files or folders) to calibrate the static '
                        'INT8 quantization of the convolutions (without: FP32 convolutions)')
    args = parser.parse_args(argv)
    if min(args.shape) < 1:
        parser.error(f'--shape must be positive, got {args.shape}')
    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        parser.error(f'no such checkpoint: {args.checkpoint}')
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        graph, model, names = export(args.config, args.out, args.checkpoint, args.shape,
                                     args.backbone_only, args.cfg_options, args.opset)
    except ExportError as e:
        sys.exit(f'ONNX export not supported: {e}')
    print(f'Exported {type(graph).__name__} ({graph.task}), traced at '
          f'{args.shape[0]}x{args.shape[1]} -> {args.out} (outputs: {", ".join(names)}; '
          f'dynamic: {", ".join(sorted(set(graph.dynamic_axes[graph.input_name].values())))})')
    ok = True
    if args.verify:
        report = verify_export(graph.task, args.out, args.config, args.checkpoint,
                               args.shape, args.cfg_options, state_dict=model.state_dict())
        print(report.text)
        ok = report.ok
    if args.optimize or args.int8:
        written = variants(args.out, int8=args.int8, optimized=args.optimize,
                           op_types=args.int8_ops, calibration=args.calibrate)
        sizes = [f'{p} ({osp.getsize(p) / 2 ** 20:.1f} MiB)' for p in written.values()]
        print(f'{args.out} ({osp.getsize(args.out) / 2 ** 20:.1f} MiB) -> ' + ', '.join(sizes))
    if not ok:
        sys.exit(1)


if __name__ == '__main__':
    main()
