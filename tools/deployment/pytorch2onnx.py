#!/usr/bin/env python
"""Export a Sequencer2D backbone (tuple of feature maps) or a whole classifier (logits) to ONNX.

    python tools/deployment/pytorch2onnx.py CONFIG [CHECKPOINT] --shape H W --out model.onnx \
        [--backbone-only] [--verify]

The graph takes a normalised NCHW float32 batch (what the data preprocessor outputs) of the
fixed size given by ``--shape``; the backbone's padding to a multiple of 14 is traced for that
size. The BiLSTM2D mixers are exported through the reference implementation (``nn.LSTM`` ->
ONNX ``LSTM``), which loads the same weights as the fused one. Checkpoints are read with
``weights_only=True``.
"""
import argparse
import os
import os.path as osp
from typing import List, Optional

import torch
import torch.nn as nn
from mmengine.config import DictAction

from mmseq.apis import init_model
from mmseq.utils import load_config


class _ClassifierLogits(nn.Module):
    """Image batch -> logits of an mmpretrain classifier (no data preprocessor, no softmax)."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier.head(self.classifier.extract_feat(x))


def build_export_module(config: str, checkpoint: Optional[str], backbone_only: bool,
                        cfg_options: Optional[dict] = None) -> nn.Module:
    cfg = load_config(config, cfg_options)
    # nn.LSTM traces to ONNX LSTM; the fused mixer's custom autograd Function would not.
    key = 'model.backbone.mixer_impl' if 'backbone' in cfg.model else 'model.mixer_impl'
    model = init_model(cfg, checkpoint, device='cpu', cfg_options={key: 'reference'})
    backbone = getattr(model, 'backbone', model)
    if backbone_only or backbone is model:
        return backbone.eval()
    if not (hasattr(model, 'extract_feat') and hasattr(model, 'head')):
        raise ValueError(f'{type(model).__name__} is not a classifier with a head; '
                         'export segmentors and detectors with --backbone-only')
    return _ClassifierLogits(model).eval()


def export(module: nn.Module, shape: List[int], out: str, opset: int = 17) -> List[str]:
    """Trace ``module`` at (1, C, H, W) and write ``out``; returns the output names."""
    backbone = getattr(module, 'classifier', module)
    backbone = getattr(backbone, 'backbone', backbone)
    in_channels = getattr(backbone, 'in_channels', 3)
    dummy = torch.zeros(1, in_channels, *shape)
    with torch.no_grad():
        outputs = module(dummy)
    if isinstance(outputs, (tuple, list)):
        output_names = [f'out{i}' for i in range(len(outputs))]
    else:
        output_names = ['logits']
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    # The TorchScript exporter: it needs no onnxscript and maps nn.LSTM to ONNX LSTM.
    torch.onnx.export(module, (dummy, ), out, input_names=['input'], output_names=output_names,
                      opset_version=opset, dynamo=False, do_constant_folding=True)
    return output_names


def verify(module: nn.Module, out: str, shape: List[int], atol: float = 1e-4) -> float:
    """Run the ONNX file with onnxruntime on a random batch; return the max abs difference."""
    import numpy as np
    import onnxruntime as ort
    backbone = getattr(module, 'classifier', module)
    backbone = getattr(backbone, 'backbone', backbone)
    x = torch.randn(1, getattr(backbone, 'in_channels', 3), *shape)
    with torch.no_grad():
        ref = module(x)
    ref = ref if isinstance(ref, (tuple, list)) else (ref, )
    sess = ort.InferenceSession(out, providers=['CPUExecutionProvider'])
    got = sess.run(None, {'input': x.numpy()})
    err = max(float(np.abs(g - r.numpy()).max()) for g, r in zip(got, ref))
    if err > atol:
        raise RuntimeError(f'onnxruntime differs from PyTorch by {err:.3g} (> {atol})')
    return err


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Export a Sequencer2D model to ONNX')
    parser.add_argument('config', help='config file (classifier, segmentor or detector)')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='full-model checkpoint; random weights when omitted')
    parser.add_argument('--shape', type=int, nargs=2, default=[224, 224], metavar=('H', 'W'),
                        help='input height and width (fixed in the graph)')
    parser.add_argument('--out', required=True, help='output .onnx file')
    parser.add_argument('--backbone-only', action='store_true',
                        help='export the backbone (one output per out_indices entry)')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. model.backbone.out_indices=[0,1,2,3]')
    parser.add_argument('--verify', action='store_true',
                        help='compare onnxruntime with PyTorch on a random input (atol 1e-4)')
    args = parser.parse_args(argv)
    if min(args.shape) < 1:
        parser.error(f'--shape must be positive, got {args.shape}')
    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        parser.error(f'no such checkpoint: {args.checkpoint}')
    return args


def main(argv=None):
    args = parse_args(argv)
    module = build_export_module(args.config, args.checkpoint, args.backbone_only,
                                 args.cfg_options)
    names = export(module, args.shape, args.out, args.opset)
    print(f'Exported {type(module).__name__} at {args.shape[0]}x{args.shape[1]} -> {args.out} '
          f'(outputs: {", ".join(names)})')
    if args.verify:
        err = verify(module, args.out, args.shape)
        print(f'onnxruntime matches PyTorch: max abs difference {err:.3g}')


if __name__ == '__main__':
    main()
