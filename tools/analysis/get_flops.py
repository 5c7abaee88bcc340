"""Parameters and FLOPs (multiply-accumulates, as in the paper) of a Sequencer2D backbone.

fvcore's and mmengine's counters skip ``nn.LSTM``; here forward hooks count the convolutions,
the linear layers and, per BiLSTM2D, the input and recurrent products of every RNN direction
(gates x (input + hidden) x hidden per token), whichever BiLSTM2D implementation runs.
Like ptflops / DeepSpeed's profiler (which the paper's timm-based benchmark script uses), the
RNN count includes the cell's bias adds and gate element-wise ops (``--no-cell-ops`` drops
them); norms, activations and residual adds are not counted. With the 1000-class head this
reproduces Table 1 (S/M/L 8.4G / 11.1G / 16.6G) and Table 2d/2e (2x hidden 13.9G, GRU 7.5G,
RNN 5.8G) at 224.

Examples::

    python tools/analysis/get_flops.py --arch s m l                 # Table 1: 8.4G 11.1G 16.6G
    python tools/analysis/get_flops.py --arch s --rnn-type gru      # Table 2e: 7.5G
    python tools/analysis/get_flops.py --arch s --hidden-ratio 2    # Table 2d: 13.9G
    python tools/analysis/get_flops.py configs/seq2d_s_in1k.py --shape 224 --speed
"""
import argparse
import time
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn

from mmseq.utils.flop_handles import RNN_OPS

# nn module -> (gates, element-wise cell ops per hidden unit and step), one table with the
# handles mmseq registers in mmengine's analyzer
_RNN_OPS = {nn.LSTM: RNN_OPS['aten::lstm'], nn.GRU: RNN_OPS['aten::gru'],
            nn.RNN: RNN_OPS['aten::rnn_tanh']}


def rnn_macs_per_step(rnn: nn.RNNBase, cell_ops: bool = True) -> int:
    """MACs of one token through one RNN layer (all its directions)."""
    gates, cell = next(ops for c, ops in _RNN_OPS.items() if isinstance(rnn, c))
    directions = 2 if rnn.bidirectional else 1
    macs = gates * rnn.hidden_size * (rnn.input_size + rnn.hidden_size)
    if cell_ops:
        macs += cell * rnn.hidden_size
    return directions * macs


class MacCounter:
    """Counts MACs of Conv2d / Linear / RNN layers and BiLSTM2D mixers with forward hooks."""

    def __init__(self, model: nn.Module, cell_ops: bool = True):
        from mmseq.models.backbones.base import Downsample
        from mmseq.models.layers.bilstm2d import BiLSTM2D
        self.model = model
        self.cell_ops = cell_ops
        self.total = 0
        self.by_kind: Dict[str, int] = {}
        self._mixer_depth = 0
        self._handles = []
        # Downsample runs its 1x1 conv as F.linear (no Conv2d call): count it as a whole.
        skip = set()
        for module in model.modules():
            if isinstance(module, Downsample):
                skip.add(id(module.proj))
                self._handles.append(module.register_forward_hook(self._downsample_hook))
        for module in model.modules():
            if id(module) in skip:
                continue
            if isinstance(module, BiLSTM2D):
                # Counted as a whole: the fused one never calls its nn.LSTM holders.
                self._handles.append(module.register_forward_pre_hook(self._enter_mixer))
                self._handles.append(module.register_forward_hook(self._mixer_hook))
            elif isinstance(module, nn.RNNBase):
                self._handles.append(module.register_forward_hook(self._rnn_hook))
            elif isinstance(module, nn.Conv2d):
                self._handles.append(module.register_forward_hook(self._conv_hook))
            elif isinstance(module, nn.Linear):
                self._handles.append(module.register_forward_hook(self._linear_hook))

    def _add(self, kind: str, macs: int):
        self.total += int(macs)
        self.by_kind[kind] = self.by_kind.get(kind, 0) + int(macs)

    def _enter_mixer(self, module, inputs):
        self._mixer_depth += 1

    def _mixer_hook(self, module, inputs, output):
        self._mixer_depth -= 1
        B, H, W, _ = inputs[0].shape
        # rnn_v runs B*W sequences of length H, rnn_h B*H of length W: B*H*W tokens each.
        for rnn in (module.rnn_v, module.rnn_h):
            if rnn is not None:
                self._add('rnn', B * H * W * rnn_macs_per_step(rnn, self.cell_ops))

    def _rnn_hook(self, module, inputs, output):
        if self._mixer_depth:
            return
        x = inputs[0]
        if isinstance(x, nn.utils.rnn.PackedSequence):
            tokens = x.data.shape[0]
        else:
            tokens = x.shape[0] * x.shape[1] if x.dim() == 3 else x.shape[0]
        self._add('rnn', tokens * rnn_macs_per_step(module, self.cell_ops))

    def _conv_hook(self, module, inputs, output):
        k = module.kernel_size[0] * module.kernel_size[1]
        self._add('conv', output.numel() * k * module.in_channels // module.groups)

    def _downsample_hook(self, module, inputs, output):
        conv = module.proj
        k = conv.kernel_size[0] * conv.kernel_size[1]
        self._add('conv', output.numel() * k * conv.in_channels)

    def _linear_hook(self, module, inputs, output):
        if self._mixer_depth:
            kind = 'mixer fc'
        else:
            kind = 'linear'
        self._add(kind, output.numel() * module.in_features)

    def remove(self):
        for handle in self._handles:
            handle.remove()


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_macs(model: nn.Module, shape: Sequence[int], in_channels: int = 3,
               cell_ops: bool = True) -> MacCounter:
    """MACs of one image of size ``shape`` (H, W)."""
    counter = MacCounter(model, cell_ops)
    was_training = model.training
    model.eval()
    try:
        model(torch.zeros(1, in_channels, *shape))
    finally:
        counter.remove()
        model.train(was_training)
    return counter


def gemm_rate(size: int = 2048, repeats: int = 3) -> float:
    """fp32 GEMM rate (FLOP/s, 2 per MAC) of this machine, best of ``repeats`` (the machine may
    be shared; the best run is the least disturbed one)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - start)
    return 2 * size ** 3 / min(times)


@torch.no_grad()
def model_rate(model: nn.Module, macs_per_image: int, shape: Sequence[int], batch_size: int,
               repeats: int = 3) -> float:
    """Achieved FLOP/s of batched inference, best of ``repeats`` (after one warm-up)."""
    model.eval()
    x = torch.randn(batch_size, 3, *shape)
    model(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - start)
    return 2 * macs_per_image * batch_size / min(times)


def build_backbone(config: Optional[str], arch: Optional[str], overrides: Dict) -> nn.Module:
    import mmseq.models  # noqa: F401  (registers Sequencer2D)
    from mmseq.registry import MODELS
    from mmseq.utils import load_config
    if config is not None:
        cfg = load_config(config)
        if 'backbone' not in cfg.model:
            raise ValueError(f'{config} has no model.backbone to analyse')
        backbone_cfg = dict(cfg.model.backbone)
        backbone_cfg.pop('init_cfg', None)  # no checkpoint download to count FLOPs
    else:
        backbone_cfg = dict(type='mmseq.Sequencer2D', arch=arch)
    backbone_cfg.update({k: v for k, v in overrides.items() if v is not None})
    return MODELS.build(backbone_cfg)


def analyse(model: nn.Module, shape: Sequence[int], num_classes: int = 0,
            cell_ops: bool = True) -> Dict:
    """Params and MACs of one image; ``num_classes`` > 0 adds the paper's classifier (global
    average pooling + a linear layer on the last stage), which Table 1 includes."""
    counter = count_macs(model, shape, cell_ops=cell_ops)
    result = dict(params=count_params(model), macs=counter.total, by_kind=dict(counter.by_kind))
    if num_classes:
        width = model.embed_dims[-1]
        result['params'] += width * num_classes + num_classes
        result['macs'] += width * num_classes
        result['by_kind']['head'] = width * num_classes
    return result


def parse_args(argv: Optional[List[str]] = None):
    parser = argparse.ArgumentParser(description='Params and FLOPs (MACs) of Sequencer2D')
    parser.add_argument('config', nargs='?', help='config file with model.backbone')
    parser.add_argument('--arch', nargs='+', default=None,
                        help='built-in archs to analyse instead of a config (s, m, l)')
    parser.add_argument('--shape', type=int, nargs='+', default=[224],
                        help='input size: H (square) or H W')
    parser.add_argument('--rnn-type', choices=['lstm', 'gru', 'rnn'], default=None)
    parser.add_argument('--hidden-ratio', type=float, default=None)
    parser.add_argument('--mixer-impl', default=None, help="'auto', 'reference' or 'fused'")
    parser.add_argument('--num-classes', type=int, default=1000,
                        help='count a classifier head of this size as the paper does (0: none)')
    parser.add_argument('--no-cell-ops', action='store_true',
                        help='count only the RNN matrix products, not the cell element-wise ops')
    parser.add_argument('--speed', action='store_true',
                        help='also time inference and a large GEMM in the same run')
    parser.add_argument('--batch-size', type=int, default=8, help='batch for --speed')
    parser.add_argument('--threads', type=int, default=None, help='torch threads for --speed')
    args = parser.parse_args(argv)
    if (args.config is None) == (args.arch is None):
        parser.error('give either a config file or --arch')
    if len(args.shape) not in (1, 2):
        parser.error('--shape takes H or H W')
    return args


def main(argv: Optional[List[str]] = None) -> List[Dict]:
    args = parse_args(argv)
    shape = args.shape * 2 if len(args.shape) == 1 else args.shape
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = dict(rnn_type=args.rnn_type, hidden_ratio=args.hidden_ratio,
                     mixer_impl=args.mixer_impl)
    names = [args.config] if args.config else args.arch
    results = []
    gemm = gemm_rate() if args.speed else None
    if gemm:
        print(f'fp32 GEMM 2048^3 on {torch.get_num_threads()} threads: {gemm / 1e9:.1f} GFLOP/s')
    for name in names:
        model = build_backbone(args.config, None if args.config else name, overrides)
        result = analyse(model, shape, args.num_classes, not args.no_cell_ops)
        result['name'] = name
        parts = ', '.join(f'{k} {v / 1e9:.2f}G' for k, v in sorted(result['by_kind'].items()))
        print(f'{name}: input {shape[0]}x{shape[1]}  params {result["params"] / 1e6:.2f}M  '
              f'FLOPs(MACs) {result["macs"] / 1e9:.2f}G  ({parts})')
        if args.speed:
            rate = model_rate(model, result['macs'], shape, args.batch_size)
            result['flops_per_s'] = rate
            result['gemm_flops_per_s'] = gemm
            print(f'  inference batch {args.batch_size}: {rate / 1e9:.1f} GFLOP/s = '
                  f'{100 * rate / gemm:.0f}% of the GEMM rate')
        results.append(result)
    return results


if __name__ == '__main__':
    main()
