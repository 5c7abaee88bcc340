"""Parameters and FLOPs (multiply-accumulates, as in the paper) of what a config builds, or of
a Sequencer2D backbone.

With a config, the tool builds the whole model (classifier, segmentor or detector, random
weights) and counts one image of ``--shape`` as the model sees it: the config's data
preprocessor pads it (e.g. to a multiple of 14), and the network runs in ``tensor`` mode, as
the OpenMMLab ``get_flops.py`` tools run it (a segmentor without its auxiliary head, a
two-stage detector with its RPN, box head on the proposals and mask head, no
post-processing). The counter is mmengine's ``FlopAnalyzer`` with mmseq's handles for the
LSTMs; the table splits parameters and FLOPs into backbone, neck, head(s) and total.

With ``--arch`` (or ``--backbone-only`` with a config), forward hooks count the backbone
alone: convolutions, linear layers and, per BiLSTM2D, the input and recurrent products of
every RNN direction (gates x (input + hidden) x hidden per token) plus the cell's bias adds
and gate element-wise ops, as ptflops / DeepSpeed's profiler (the paper's benchmark script)
count them (``--no-cell-ops`` drops those); norms, activations and residual adds are not
counted. With the 1000-class head this reproduces Table 1 (S/M/L 8.4G / 11.1G / 16.6G) and
Table 2d/2e (2x hidden 13.9G, GRU 7.5G, RNN 5.8G) at 224.

Examples::

    python tools/analysis/get_flops.py configs/sem_fpn_seq2d_s_ade20k.py --shape 512
    python tools/analysis/get_flops.py configs/mask_rcnn_seq2d_s_coco.py --shape 800 1280
    python tools/analysis/get_flops.py --arch s m l                 # Table 1: 8.4G 11.1G 16.6G
    python tools/analysis/get_flops.py --arch s --rnn-type gru      # Table 2e: 7.5G
    python tools/analysis/get_flops.py --arch s --hidden-ratio 2    # Table 2d: 13.9G
    python tools/analysis/get_flops.py configs/seq2d_s_in1k.py --backbone-only --speed
"""
import argparse
import json
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

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


def build_backbone(config: Optional[str], arch: Optional[str], overrides: Dict,
                   cfg_options: Optional[Dict] = None) -> nn.Module:
    import mmseq.models  # noqa: F401  (registers Sequencer2D)
    from mmseq.registry import MODELS
    from mmseq.utils import load_config
    if config is not None:
        cfg = load_config(config, cfg_options)
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


# ----------------------------------------------------------------- whole models
# What a config's model is, by the base class of the library that defines it.
_TASKS = (('mmseg.models.segmentors', 'BaseSegmentor', 'segmentor'),
          ('mmdet.models.detectors', 'BaseDetector', 'detector'),
          ('mmpretrain.models.classifiers', 'BaseClassifier', 'classifier'))
# Top-level modules of the OpenMMLab models, by part; any other module counts as a head.
_PARTS = {'backbone': 'backbone', 'neck': 'neck', 'data_preprocessor': None}


def task_of(model: nn.Module) -> str:
    """'segmentor', 'detector', 'classifier' or 'model' (none of the three)."""
    import importlib
    for module, base, task in _TASKS:
        try:
            cls = getattr(importlib.import_module(module), base)
        except (ImportError, AttributeError):
            continue
        if isinstance(model, cls):
            return task
    return 'model'


def build_model(config: str, cfg_options: Optional[Dict] = None) -> nn.Module:
    """The model of a config with random weights (no checkpoint is read), in eval mode."""
    import mmseq.models  # noqa: F401  (registers Sequencer2D and the LSTM FLOP handles)
    from mmseq.apis import init_model
    return init_model(config, device='cpu', cfg_options=cfg_options)


def data_sample(task: str, shape: Sequence[int]):
    """An empty data sample of the task's library with the image metadata its model reads."""
    h, w = shape
    meta = dict(img_shape=(h, w), ori_shape=(h, w))
    if task == 'segmentor':
        from mmseg.structures import SegDataSample
        return SegDataSample(metainfo=meta)
    if task == 'detector':
        from mmdet.structures import DetDataSample
        return DetDataSample(metainfo=dict(meta, scale_factor=(1.0, 1.0)))
    if task == 'classifier':
        from mmpretrain.structures import DataSample
        return DataSample(metainfo=meta)
    return None


@torch.no_grad()
def model_inputs(model: nn.Module, shape: Sequence[int], batch_size: int = 1,
                 seed: int = 0) -> Tuple[torch.Tensor, Any]:
    """A batch of random ``shape`` (H, W) images through the model's data preprocessor in test
    mode (normalised and padded as the model sees them), and its data samples."""
    task = task_of(model)
    gen = torch.Generator().manual_seed(seed)
    images = [torch.randint(0, 256, (3, *shape), generator=gen, dtype=torch.uint8)
              for _ in range(batch_size)]
    samples = [data_sample(task, shape) for _ in range(batch_size)]
    data = dict(inputs=images)
    if samples[0] is not None:
        data['data_samples'] = samples
    batch = model.data_preprocessor(data, False)
    return batch['inputs'], batch.get('data_samples')


class TensorMode(nn.Module):
    """``model(inputs, data_samples, mode='tensor')`` as a module of one tensor argument (what
    mmengine's analyzer traces): the network without post-processing."""

    def __init__(self, model: nn.Module, data_samples: Any = None):
        super().__init__()
        self.model = model
        self.data_samples = data_samples

    def forward(self, inputs: torch.Tensor):
        return self.model(inputs, self.data_samples, mode='tensor')


def model_costs(model: nn.Module, shape: Sequence[int]) -> Dict:
    """Parameters and FLOPs (MACs) of one ``shape`` (H, W) image through the whole model, in
    total and per top-level module: ``parts`` is a list of dicts (``part``: backbone, neck,
    head, or other for the ops outside the top-level modules; ``name``, ``type``, ``params``,
    ``flops``, ``ran``); ``summary`` adds them up by part."""
    from mmengine.analysis import FlopAnalyzer
    model.eval()
    inputs, samples = model_inputs(model, shape)
    wrapper = TensorMode(model, samples)
    analyzer = FlopAnalyzer(wrapper, (inputs, ))
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    analyzer.tracer_warnings('none')
    by_module = analyzer.by_module()
    uncalled = analyzer.uncalled_modules()
    parts = []
    for name, child in model.named_children():
        part = _PARTS.get(name, 'head')
        if part is None:
            continue
        parts.append(dict(part=part, name=name, type=type(child).__name__,
                          params=count_params(child), flops=int(by_module[f'model.{name}']),
                          ran=f'model.{name}' not in uncalled))
    total_flops = int(analyzer.total())
    outside = total_flops - sum(p['flops'] for p in parts)
    if outside:
        # functional ops of the model's own code, e.g. mmseg's EncoderDecoder calls
        # ``decode_head.forward`` directly, so the head's final resize is scoped to the model
        parts.append(dict(part='other', name='-', type='functional ops outside the modules',
                          params=count_params(model) - sum(p['params'] for p in parts),
                          flops=outside, ran=True))
    summary = {}
    for key in ('backbone', 'neck', 'head', 'other'):
        mine = [p for p in parts if p['part'] == key]
        if mine:
            summary[key] = dict(params=sum(p['params'] for p in mine),
                                flops=sum(p['flops'] for p in mine))
    return dict(model=type(model).__name__, task=task_of(model), shape=list(shape),
                input=list(inputs.shape[-2:]), params=count_params(model), flops=total_flops,
                parts=parts, summary=summary)


def format_costs(costs: Dict, name: str) -> str:
    """A markdown table of :func:`model_costs`, with the model and the input above it."""
    (h, w), (ph, pw) = costs['shape'], costs['input']
    padded = f', padded to {ph}x{pw} by the data preprocessor' if (ph, pw) != (h, w) else ''
    lines = [f'{name}: {costs["model"]} ({costs["task"]}), one {h}x{w} image{padded}; '
             'FLOPs = multiply-accumulates (mmengine FlopAnalyzer + mmseq LSTM handles)',
             '',
             '| part | module | type | params | FLOPs |',
             '| --- | --- | --- | --- | --- |']
    for p in costs['parts']:
        flops = f'{p["flops"] / 1e9:.2f}G' if p['ran'] else 'not run at test time'
        lines.append(f'| {p["part"]} | {p["name"]} | {p["type"]} | {p["params"] / 1e6:.2f}M '
                     f'| {flops} |')
    lines.append(f'| total | | | {costs["params"] / 1e6:.2f}M ({costs["params"]:,}) | '
                 f'{costs["flops"] / 1e9:.2f}G |')
    return '\n'.join(lines)


@torch.no_grad()
def time_forward(forward: Callable[[], Any], repeats: int = 3) -> float:
    """Best of ``repeats`` wall times of ``forward()`` after one warm-up call (a shared
    machine's best run is its least disturbed one)."""
    forward()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        forward()
        times.append(time.perf_counter() - start)
    return min(times)


def parse_args(argv: Optional[List[str]] = None):
    parser = argparse.ArgumentParser(
        description='Params and FLOPs (MACs) of what a config builds (classifier, segmentor or '
        'detector; backbone, neck, head and total), or of Sequencer2D backbones (--arch)')
    parser.add_argument('config', nargs='?',
                        help='config file: counts the whole model it builds')
    parser.add_argument('--arch', nargs='+', default=None,
                        help='built-in archs to analyse instead of a config (s, m, l): the '
                        "backbone and the paper's classifier head")
    parser.add_argument('--shape', type=int, nargs='+', default=None,
                        help='input size: H (square) or H W (default 224; a detector at '
                        '1280x800: --shape 800 1280)')
    parser.add_argument('--backbone-only', action='store_true',
                        help="with a config: only its backbone, with the project's hook "
                        'counter (as --arch)')
    parser.add_argument('--rnn-type', choices=['lstm', 'gru', 'rnn'], default=None)
    parser.add_argument('--hidden-ratio', type=float, default=None)
    parser.add_argument('--mixer-impl', default=None, help="'auto', 'reference' or 'fused'")
    parser.add_argument('--num-classes', type=int, default=None,
                        help='with --arch / --backbone-only: count a classifier head of this '
                        'size as the paper does (default 1000 with --arch, 0 with '
                        '--backbone-only)')
    parser.add_argument('--no-cell-ops', action='store_true',
                        help='with --arch / --backbone-only: count only the RNN matrix '
                        'products, not the cell element-wise ops')
    parser.add_argument('--cfg-options', nargs='+', default=None, metavar='KEY=VALUE',
                        help='overrides of the config (e.g. model.backbone.arch=m)')
    parser.add_argument('--json', default=None, metavar='FILE',
                        help='also write the results to this JSON file')
    parser.add_argument('--speed', action='store_true',
                        help='also time inference and a large GEMM in the same run')
    parser.add_argument('--batch-size', type=int, default=8, help='batch for --speed')
    parser.add_argument('--threads', type=int, default=None, help='torch threads for --speed')
    args = parser.parse_args(argv)
    if (args.config is None) == (args.arch is None):
        parser.error('give either a config file or --arch')
    if args.backbone_only and args.config is None:
        parser.error('--backbone-only needs a config')
    args.shape = args.shape or [224]
    if len(args.shape) not in (1, 2):
        parser.error('--shape takes H or H W')
    whole = args.config is not None and not args.backbone_only
    if whole and (args.num_classes is not None or args.no_cell_ops or args.rnn_type
                  or args.hidden_ratio is not None):
        parser.error('--num-classes, --no-cell-ops, --rnn-type and --hidden-ratio are for '
                     '--arch and --backbone-only; change a config with --cfg-options')
    if args.num_classes is None:
        args.num_classes = 0 if args.backbone_only else 1000
    return args


def _cfg_options(options: Optional[List[str]]) -> Optional[Dict]:
    if not options:
        return None
    from mmengine.config import DictAction
    namespace = argparse.Namespace()
    DictAction(option_strings=[], dest='o')(None, namespace, options)
    return namespace.o


def _whole_model(args, shape, gemm) -> Dict:
    overrides = _cfg_options(args.cfg_options) or {}
    if args.mixer_impl:
        overrides['model.backbone.mixer_impl'] = args.mixer_impl
    model = build_model(args.config, overrides or None)
    costs = model_costs(model, shape)
    costs['name'] = args.config
    costs['macs'] = costs['flops']
    print(format_costs(costs, args.config))
    if args.speed:
        inputs, samples = model_inputs(model, shape, args.batch_size)
        wrapper = TensorMode(model, samples)
        seconds = time_forward(lambda: wrapper(inputs))
        costs['img_per_s'] = args.batch_size / seconds
        costs['flops_per_s'] = 2 * costs['flops'] * args.batch_size / seconds
        costs['gemm_flops_per_s'] = gemm
        print(f'  inference batch {args.batch_size} (tensor mode): '
              f'{costs["img_per_s"]:.2f} img/s, {costs["flops_per_s"] / 1e9:.1f} GFLOP/s = '
              f'{100 * costs["flops_per_s"] / gemm:.0f}% of the GEMM rate')
    return costs


def main(argv: Optional[List[str]] = None) -> List[Dict]:
    args = parse_args(argv)
    shape = args.shape * 2 if len(args.shape) == 1 else args.shape
    if args.threads:
        torch.set_num_threads(args.threads)
    results = []
    gemm = gemm_rate() if args.speed else None
    if gemm:
        print(f'fp32 GEMM 2048^3 on {torch.get_num_threads()} threads: {gemm / 1e9:.1f} GFLOP/s')
    if args.config is not None and not args.backbone_only:
        results.append(_whole_model(args, shape, gemm))
    else:
        overrides = dict(rnn_type=args.rnn_type, hidden_ratio=args.hidden_ratio,
                         mixer_impl=args.mixer_impl)
        names = [args.config] if args.config else args.arch
        for name in names:
            model = build_backbone(args.config, None if args.config else name, overrides,
                                   _cfg_options(args.cfg_options))
            result = analyse(model, shape, args.num_classes, not args.no_cell_ops)
            result['name'] = name
            parts = ', '.join(f'{k} {v / 1e9:.2f}G' for k, v in sorted(result['by_kind'].items()))
            what = 'backbone' + (f' + {args.num_classes}-class head' if args.num_classes else '')
            print(f'{name} ({what}): input {shape[0]}x{shape[1]}  params '
                  f'{result["params"] / 1e6:.2f}M  FLOPs(MACs) {result["macs"] / 1e9:.2f}G  '
                  f'({parts})')
            if args.speed:
                rate = model_rate(model, result['macs'], shape, args.batch_size)
                result['flops_per_s'] = rate
                result['gemm_flops_per_s'] = gemm
                print(f'  inference batch {args.batch_size}: {rate / 1e9:.1f} GFLOP/s = '
                      f'{100 * rate / gemm:.0f}% of the GEMM rate')
            results.append(result)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == '__main__':
    main()
