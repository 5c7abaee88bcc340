#!/usr/bin/env python
"""Write the optimised and the dynamic INT8 versions of an exported ONNX file.

    python tools/deployment/onnx_quantize.py MODEL.onnx [--out-dir DIR] \
        [--int8-ops MatMul Conv] [--level extended] [--no-optimize] [--no-int8]

MODEL_opt.onnx: onnxruntime's graph optimisations applied offline (``--level``: basic,
extended, or all, which adds the memory layouts of this CPU type). MODEL_int8.onnx: the
weights of ``--int8-ops`` in INT8, their inputs quantized at run time
(``onnxruntime.quantization.quantize_dynamic``). Both keep the file's metadata, so
``ort_serve.py`` and ``onnx_infer.py`` run them as they run the original.
"""
import argparse
import os.path as osp

from mmseq.deployment.optimize import DEFAULT_INT8_OPS, INT8_OPS, LEVELS, variants


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument('model', help='.onnx file from tools/deployment/pytorch2onnx.py')
    parser.add_argument('--out-dir', help='where to write them (default: beside MODEL)')
    parser.add_argument('--int8-ops', nargs='+', default=list(DEFAULT_INT8_OPS),
                        choices=INT8_OPS, help='operators quantized dynamically')
    parser.add_argument('--calibrate', nargs='+', default=(), metavar='IMAGE',
                        help='images (files or folders) to calibrate the static INT8 '
                        'quantization of the convolutions (without: FP32 convolutions)')
    parser.add_argument('--level', default='extended', choices=LEVELS,
                        help='graph optimisation level of MODEL_opt.onnx')
    parser.add_argument('--no-optimize', action='store_true')
    parser.add_argument('--no-int8', action='store_true')
    args = parser.parse_args(argv)
    if not osp.isfile(args.model):
        parser.error(f'no such file: {args.model}')
    return args


def main(argv=None):
    args = parse_args(argv)
    written = variants(args.model, args.out_dir, int8=not args.no_int8,
                       optimized=not args.no_optimize, op_types=args.int8_ops,
                       level=args.level, calibration=args.calibrate)
    for path in [args.model, *written.values()]:
        print(f'{path}: {osp.getsize(path) / 2 ** 20:.2f} MiB')


if __name__ == '__main__':
    main()
