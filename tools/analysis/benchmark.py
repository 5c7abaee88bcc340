"""Throughput and peak memory of Sequencer2D (each BiLSTM2D implementation) next to timm's
Sequencer2d and mmpretrain's ConvNeXt-T / Swin-T / DeiT-S, for inference and training steps,
on CPU or CUDA, in float32 or under autocast; and the resolution sweep of the paper's Fig. 3
(bottom).

All models run in one process, side by side: every repeat runs every (setting, mode, AMP,
model) once, the models of one case back to back, so machine noise is spread over all of
them; the report gives medians over repeats, and speed ratios against timm's
``sequencer2d_s`` as the median of the per-repeat ratios (each pair timed within seconds, so
slow changes of a shared machine's load cancel out).

Time and memory come from separate steps (the memory sampler would slow a timed step); the
timed step directly follows the memory step of the same case. The first warm-up step of each
case also records which recurrence really ran (``recurrence`` column, read from the modules
as they run: the fused C++ loops, or ``nn.LSTM`` with its backend and the dtype it produced).
Memory (``peak_extra_mb``): on CPU the peak RSS during the step minus the RSS just before it
(sampled by a thread from /proc/self/statm; glibc's free lists are trimmed with
``malloc_trim`` before each step so memory freed by earlier steps does not hide the step's own
growth); on CUDA ``max_memory_allocated`` minus the allocation before the step.
``peak_mb`` adds what the case itself holds before the step (its model's parameters,
buffers, gradients and optimizer state, and the input batch): the peak of that model alone.
On CUDA a step is timed with CUDA events on the device's stream. Every row of the CSV, the
printed table and the plot name the machine (CPU model and cores, or the GPU), torch's
version and the date.

Examples::

    python tools/analysis/benchmark.py --quick                   # about 2 minutes on 2 cores
    python tools/analysis/benchmark.py --models seq2d-s-fused seq2d-s-reference timm-seq2d-s \\
        convnext-t deit-s --settings 224:8 384:4 512:2 --modes infer train --repeats 5
    python tools/analysis/benchmark.py --device cuda --cuda-suite        # S/M/L, timm, ConvNeXt-T,
                                                   # Swin-T at 224:128 and 512:8, AMP off/fp16/bf16
    python tools/analysis/benchmark.py --device cuda --sweep             # Fig. 3 bottom: 224..2240
    python tools/analysis/benchmark.py --models seq2d-s-fused timm-seq2d-s --sweep 224 448 \\
        --batch 2 --modes infer                                         # a CPU-sized sweep
"""
import argparse
import contextlib
import csv
import gc
import io
import math
import os
import statistics
import sys
import threading
import time
import traceback
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn

from mmseq.utils import atomic_write_bytes, resolve_device
from mmseq.utils.timing import machine_info, machine_line

TINY_ARCH = dict(layers=[1, 1, 1, 1], patch_sizes=[7, 2, 1, 1], embed_dims=[16, 32, 32, 32],
                 hidden_sizes=[4, 8, 8, 8], mlp_ratios=[2, 2, 2, 2])
TIMM_BASELINE = 'timm-seq2d-s'
# --quick: 3 models x 2 settings, every case a few seconds of compute on 2 cores; on a slower
# or busier machine the time budget cuts the repeats (at least one)
QUICK = dict(models=['seq2d-s-fused', TIMM_BASELINE, 'resnet-50'],
             settings=['224:1', '224:8'], modes=['infer'], repeats=3, time_budget=120)
QUICK_HELP = ("Sequencer2D-S (fused), timm's sequencer2d_s and mmpretrain's ResNet-50 (random "
              'weights), inference at 224 px, batch 1 and 8, up to 3 repeats within a 120 s '
              'time budget: about 2 minutes on 2 cores')
CUDA_SUITE = dict(models=['seq2d-s-fused', 'seq2d-m-fused', 'seq2d-l-fused', TIMM_BASELINE,
                          'convnext-t', 'swin-t'],
                  settings=['224:128', '512:8'], modes=['infer', 'train'],
                  amp=['off', 'fp16', 'bf16'], repeats=3)
# Fig. 3 (bottom): Sequencer2D-S, DeiT-S and ConvNeXt-T from 224 to 2240 px in steps of 224,
# batch 16 (timm's Sequencer2d-S beside ours).
SWEEP_SIZES = list(range(224, 2241, 224))
SWEEP_BATCH = 16
SWEEP_MODELS = ['seq2d-s-fused', TIMM_BASELINE, 'deit-s', 'convnext-t']
AMP_DTYPES = {'off': None, 'fp16': torch.float16, 'bf16': torch.bfloat16}
DTYPE_NAMES = {torch.float32: 'fp32', torch.float16: 'fp16', torch.bfloat16: 'bf16',
               torch.float64: 'fp64'}


class SequencerClassifier(nn.Module):
    """mmseq backbone + the paper's head (global average pooling, linear)."""

    def __init__(self, arch, mixer_impl: str, num_classes: int = 1000):
        super().__init__()
        from mmseq.models.backbones.sequencer2d import Sequencer2D
        self.backbone = Sequencer2D(arch, mixer_impl=mixer_impl)
        self.head = nn.Linear(self.backbone.embed_dims[-1], num_classes)

    def forward(self, x):
        return self.head(self.backbone(x)[-1].mean((2, 3)))


class MMPretrainClassifier(nn.Module):
    """An mmpretrain ImageClassifier called on a plain tensor (``mode='tensor'``)."""

    def __init__(self, cfg: Dict):
        super().__init__()
        from mmengine.registry import DefaultScope
        from mmpretrain.registry import MODELS
        from mmpretrain.utils import register_all_modules
        register_all_modules(init_default_scope=False)
        # mmpretrain's names, whatever scope the calling process (mmseg, mmdet) has set
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            self.model = MODELS.build(cfg)

    def forward(self, x):
        out = self.model(x, mode='tensor')
        return out[-1] if isinstance(out, (tuple, list)) else out


def _mmpretrain_cfg(name: str) -> Dict:
    if name == 'resnet-50':
        return dict(type='ImageClassifier', backbone=dict(type='ResNet', depth=50),
                    neck=dict(type='GlobalAveragePooling'),
                    head=dict(type='LinearClsHead', num_classes=1000, in_channels=2048))
    if name == 'convnext-t':
        return dict(type='ImageClassifier', backbone=dict(type='ConvNeXt', arch='tiny'),
                    head=dict(type='LinearClsHead', num_classes=1000, in_channels=768))
    if name == 'swin-t':
        # windows are padded to the window size, so any input size runs
        return dict(type='ImageClassifier',
                    backbone=dict(type='SwinTransformer', arch='tiny', img_size=224),
                    neck=dict(type='GlobalAveragePooling'),
                    head=dict(type='LinearClsHead', num_classes=1000, in_channels=768))
    # the position embedding is resized to the input's patch grid in every forward
    return dict(type='ImageClassifier',
                backbone=dict(type='VisionTransformer', arch='deit-small', img_size=224,
                              patch_size=16, out_type='cls_token'),
                neck=None,
                head=dict(type='VisionTransformerClsHead', num_classes=1000,
                          in_channels=384))


def _timm_model(name: str) -> nn.Module:
    import timm
    return timm.create_model(name, pretrained=False)


def model_factories() -> Dict[str, Callable[[], nn.Module]]:
    """Benchmark name -> constructor (a float32 classifier taking NCHW images)."""
    factories = {}
    for arch in ('s', 'm', 'l'):
        for impl in ('fused', 'reference'):
            factories[f'seq2d-{arch}-{impl}'] = \
                (lambda a=arch, i=impl: SequencerClassifier(a, i))
        factories[f'timm-seq2d-{arch}'] = lambda a=arch: _timm_model(f'sequencer2d_{a}')
    for name in ('resnet-50', 'convnext-t', 'swin-t', 'deit-s'):
        factories[name] = lambda n=name: MMPretrainClassifier(_mmpretrain_cfg(n))
    for impl in ('fused', 'reference'):
        factories[f'tiny-{impl}'] = lambda i=impl: SequencerClassifier(TINY_ARCH, i, 10)
    return factories


PAGE = os.sysconf('SC_PAGE_SIZE') if hasattr(os, 'sysconf') else 4096


def _rss_bytes(fd: Optional[int] = None) -> int:
    if fd is None:
        with open('/proc/self/statm', 'rb') as f:
            return int(f.read().split()[1]) * PAGE
    return int(os.pread(fd, 128, 0).split()[1]) * PAGE


def _malloc_trim():
    """Give glibc's cached free memory back to the OS (no-op elsewhere)."""
    try:
        import ctypes
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_rss_high_water_mark() -> bool:
    """Linux keeps the process's peak RSS (VmHWM); writing 5 to clear_refs resets it."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def _rss_high_water_mark() -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) * 1024
    return 0


class PeakRSS:
    """The process's peak RSS while the block runs: the kernel's high-water mark, reset on
    entry, where Linux allows it; else (and besides) the RSS sampled in a thread, which can
    miss a peak shorter than the interval."""

    def __init__(self, interval: float = 1e-3):
        self.interval = interval
        self.peak = self.base = 0
        self._stop = threading.Event()

    def _run(self):
        fd = os.open('/proc/self/statm', os.O_RDONLY)
        try:
            while not self._stop.is_set():
                self.peak = max(self.peak, _rss_bytes(fd))
                time.sleep(self.interval)
        finally:
            os.close(fd)

    def __enter__(self):
        _malloc_trim()
        self._exact = _reset_rss_high_water_mark()
        self.base = self.peak = _rss_bytes()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())
        if self._exact:
            self.peak = max(self.peak, _rss_high_water_mark())

    @property
    def extra(self) -> int:
        return self.peak - self.base


class RecurrenceProbe:
    """What recurrence a model's forward really runs, read from its modules while they run.

    Every ``nn.LSTM``/``GRU``/``RNN`` that runs adds ``nn.<type> <backend> <dtype>``: the
    backend is cuDNN where ``torch.backends.cudnn.is_acceptable`` (the test ``nn.LSTM``
    itself makes) passes for its input, and the dtype is that of its output (under CUDA
    autocast cuDNN's LSTM runs in fp16 whatever autocast's dtype). A fused BiLSTM2D that
    finished its forward without calling its ``nn.LSTM`` ran the C++ step loops.
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self.labels = set()
        self._handles = []
        self._open: List[bool] = []  # fused mixers in progress: whether they called nn.LSTM

    def __enter__(self):
        from mmseq.models.layers.fused_bilstm2d import FusedBiLSTM2D
        for module in self.model.modules():
            if isinstance(module, nn.RNNBase):
                self._handles.append(module.register_forward_hook(self._rnn_ran))
            elif isinstance(module, FusedBiLSTM2D):
                self._handles.append(module.register_forward_pre_hook(self._fused_enter))
                self._handles.append(module.register_forward_hook(self._fused_exit))
        return self

    def __exit__(self, *exc):
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _rnn_ran(self, module, inputs, output):
        if self._open:
            self._open[-1] = True
        seq, out = inputs[0], output[0]
        if seq.device.type == 'cuda':
            backend = 'cuDNN' if torch.backends.cudnn.is_acceptable(seq) else 'CUDA'
        else:
            backend = seq.device.type.upper()
        dtype = DTYPE_NAMES.get(out.dtype, str(out.dtype))
        self.labels.add(f'nn.{type(module).__name__} {backend} {dtype}')

    def _fused_enter(self, module, args):
        self._open.append(False)

    def _fused_exit(self, module, args, output):
        if not self._open.pop():
            from mmseq.models.layers import lstm2d_ext
            self.labels.add(f'fused C++ ({lstm2d_ext.origin()})')

    def label(self) -> str:
        return ' + '.join(sorted(self.labels)) or 'none'


class Inputs:
    """The input batch of the current (size, batch): one batch at a time, shared by the cases
    of a setting (a sweep's large batches would not all fit)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.key = None
        self.tensors = None

    def get(self, size: int, batch: int) -> Tuple[torch.Tensor, torch.Tensor]:
        if self.key != (size, batch):
            self.tensors = None
            gen = torch.Generator().manual_seed(size * 1000 + batch)
            images = torch.randn(batch, 3, size, size, generator=gen).to(self.device)
            targets = torch.randint(0, 10, (batch,), generator=gen).to(self.device)
            self.key, self.tensors = (size, batch), (images, targets)
        return self.tensors


def _tensor_bytes(tensors) -> int:
    seen, total = set(), 0
    for t in tensors:
        if t is None or not isinstance(t, torch.Tensor):
            continue
        storage = t.untyped_storage()
        if storage.data_ptr() in seen:
            continue
        seen.add(storage.data_ptr())
        total += storage.nbytes()
    return total


class OverCap(Exception):
    """A CPU step whose peak passed ``--max-memory-gb``."""


class Case:
    """One model in one mode at one setting and AMP choice: ``time_step()`` and
    ``memory_step()``."""

    def __init__(self, model: nn.Module, mode: str, size: int, batch: int, device,
                 amp: str = 'off', inputs: Optional[Inputs] = None,
                 optimizer: Optional[torch.optim.Optimizer] = None):
        self.model, self.mode, self.size, self.batch = model, mode, size, batch
        self.device = torch.device(device)
        self.amp, self.dtype = amp, AMP_DTYPES[amp]
        self.inputs = inputs or Inputs(self.device)
        self.recurrence = ''
        self.optimizer = self.scaler = None
        if mode == 'train':
            self.optimizer = optimizer or torch.optim.SGD(model.parameters(), lr=1e-6,
                                                          momentum=0.9)
            if self.dtype == torch.float16:
                # fp16 gradients underflow without loss scaling (AmpOptimWrapper's GradScaler)
                self.scaler = torch.amp.GradScaler(self.device.type)

    def _autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def _run(self):
        images, targets = self.inputs.get(self.size, self.batch)
        if self.mode == 'infer':
            self.model.eval()
            with torch.no_grad(), self._autocast():
                self.model(images)
            return
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            logits = self.model(images)
        loss = nn.functional.cross_entropy(logits.float(), targets)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()

    def _device_context(self):
        if self.device.type == 'cuda':
            return torch.cuda.device(self.device)
        return contextlib.nullcontext()

    def probe_step(self) -> float:
        """A (warm-up) step that records which recurrence ran in ``self.recurrence``."""
        with RecurrenceProbe(self.model) as probe:
            seconds = self.time_step()
        self.recurrence = probe.label()
        return seconds

    def time_step(self) -> float:
        """Seconds of one step, with nothing else running in the process; on CUDA between
        two events on the device's current stream."""
        if self.device.type != 'cuda':
            start = time.perf_counter()
            self._run()
            return time.perf_counter() - start
        with self._device_context():
            stream = torch.cuda.current_stream(self.device)
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize(self.device)
            start.record(stream)
            self._run()
            end.record(stream)
            end.synchronize()
            return start.elapsed_time(end) / 1000

    def held_bytes(self) -> int:
        """What this case holds outside a step: its model's parameters, buffers and
        gradients, its optimizer's state and the input batch."""
        tensors = list(self.model.parameters()) + list(self.model.buffers())
        tensors += [p.grad for p in self.model.parameters()]
        if self.optimizer is not None:
            for state in self.optimizer.state.values():
                tensors += list(state.values())
        tensors += list(self.inputs.get(self.size, self.batch))
        return _tensor_bytes(tensors)

    def memory_step(self) -> Tuple[int, int]:
        """(peak extra bytes of one step, bytes the case held before it). A separate, untimed
        step: on CPU the RSS sampler is a thread that would take a core (and the GIL) from a
        timed step."""
        held = self.held_bytes()
        if self.device.type == 'cuda':
            with self._device_context():
                torch.cuda.synchronize(self.device)
                base = torch.cuda.memory_allocated(self.device)
                torch.cuda.reset_peak_memory_stats(self.device)
                self._run()
                torch.cuda.synchronize(self.device)
                return torch.cuda.max_memory_allocated(self.device) - base, held
        with PeakRSS() as mem:
            self._run()
        return mem.extra, held

    def release(self):
        """After a failed step: drop gradients and cached blocks."""
        if self.optimizer is not None:
            self.optimizer.zero_grad(set_to_none=True)
        gc.collect()
        if self.device.type == 'cuda':
            torch.cuda.empty_cache()


def is_out_of_memory(error: BaseException) -> bool:
    """CUDA's OutOfMemoryError, Python's MemoryError, or a CPU allocator failure."""
    if isinstance(error, (MemoryError, OverCap, torch.cuda.OutOfMemoryError)):
        return True
    message = str(error).lower()
    return isinstance(error, RuntimeError) and (
        'out of memory' in message or "can't allocate memory" in message)


def parse_settings(args) -> List[Tuple[int, int]]:
    if args.sweep is not None:
        return [(size, args.batch) for size in sorted(args.sweep or SWEEP_SIZES)]
    if args.settings:
        pairs = []
        for item in args.settings:
            try:
                size, batch = (int(v) for v in item.split(':'))
            except ValueError:
                raise SystemExit(f'--settings entries are SIZE:BATCH, got {item!r}')
            pairs.append((size, batch))
        return pairs
    return [(s, b) for s in args.sizes for b in args.batch_sizes]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Sequencer2D throughput / memory benchmark against timm and mmpretrain '
        'backbones; every output names the CPU (or GPU), its cores, torch and the date')
    parser.add_argument('--models', nargs='+', default=None,
                        help=f'names among {sorted(model_factories())}')
    parser.add_argument('--settings', nargs='+', default=None,
                        help='SIZE:BATCH pairs, e.g. 224:8 512:2')
    parser.add_argument('--sizes', type=int, nargs='+', default=[224])
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[8])
    parser.add_argument('--modes', nargs='+', choices=['infer', 'train'],
                        default=['infer', 'train'])
    parser.add_argument('--amp', nargs='+', choices=list(AMP_DTYPES), default=['off'],
                        help='autocast choices to run: off (float32), bf16, fp16 (CUDA; '
                        'training with a GradScaler)')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--time-budget', type=float, default=None, metavar='SECONDS',
                        help='start no repeat after the first once this many seconds of '
                        'measuring have passed (default: none; --quick: 120)')
    parser.add_argument('--warmup', type=int, default=None,
                        help='untimed steps per case, at least 1 (default: 1 on CPU, 5 on '
                        'CUDA)')
    parser.add_argument('--quick', action='store_true', help=QUICK_HELP)
    parser.add_argument('--cuda-suite', action='store_true',
                        help=f'{CUDA_SUITE["models"]} at {CUDA_SUITE["settings"]}, AMP '
                        f'{CUDA_SUITE["amp"]}, both modes')
    parser.add_argument('--sweep', type=int, nargs='*', default=None, metavar='SIZE',
                        help='resolution sweep (Fig. 3 bottom) at --batch: these sizes, or '
                        f'without values {SWEEP_SIZES[0]}..{SWEEP_SIZES[-1]} in steps of 224; '
                        f'models default to {SWEEP_MODELS}; writes sweep.csv / sweep.png')
    parser.add_argument('--batch', type=int, default=SWEEP_BATCH,
                        help=f'batch size of --sweep (default {SWEEP_BATCH}, as the paper)')
    parser.add_argument('--max-memory-gb', type=float, default=None,
                        help='memory cap: on CUDA the allocator\'s limit for this process '
                        '(set_per_process_memory_fraction), on CPU a step whose peak_mb passes '
                        'it; such steps count as out of memory (status oom)')
    parser.add_argument('--device', default='cpu',
                        help="'cpu' (default), 'cuda', 'cuda:N' or 'auto'")
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--out-dir', default='work_dirs/benchmark')
    args = parser.parse_args(argv)
    for flag, preset in (('quick', QUICK), ('cuda_suite', CUDA_SUITE)):
        if getattr(args, flag):
            for key, value in preset.items():
                if key == 'models' and args.models:
                    continue
                setattr(args, key, value)
    if args.sweep is not None:
        if args.settings:
            parser.error('--sweep and --settings exclude each other')
        if any(s <= 0 for s in args.sweep) or args.batch <= 0:
            parser.error('--sweep sizes and --batch must be positive')
        args.models = args.models or SWEEP_MODELS
    args.models = args.models or QUICK['models']
    unknown = [m for m in args.models if m not in model_factories()]
    if unknown:
        parser.error(f'unknown models {unknown}; choose from {sorted(model_factories())}')
    if args.warmup is not None and args.warmup < 1:
        parser.error('--warmup must be at least 1 (the first step records the recurrence)')
    if args.repeats < 1:
        parser.error('--repeats must be at least 1')
    try:
        device = resolve_device(args.device)
    except ValueError as e:
        parser.error(str(e))
    if device.type == 'cuda' and device.index is None:
        device = torch.device('cuda', torch.cuda.current_device())
    args.device = str(device)
    if 'fp16' in args.amp and device.type != 'cuda':
        parser.error('--amp fp16 is for CUDA; on CPU use bf16')
    if args.warmup is None:
        args.warmup = 5 if device.type == 'cuda' else 1
    return args


def _progress(total: int):
    try:
        from mmengine.utils import ProgressBar
        return ProgressBar(total, file=sys.stderr)
    except ImportError:  # plain counter without mmengine
        class _Count:
            done = 0

            def update(self):
                self.done += 1
                print(f'\r{self.done}/{total}', end='', file=sys.stderr)
        return _Count()


def _cap_memory(args, device: torch.device):
    if args.max_memory_gb is None or device.type != 'cuda':
        return
    total = torch.cuda.get_device_properties(device).total_memory
    fraction = min(1.0, args.max_memory_gb * 2 ** 30 / total)
    torch.cuda.set_per_process_memory_fraction(fraction, device)


def _nan_row(name, mode, size, batch, amp, device, status, recurrence='') -> Dict:
    return dict(model=name, recurrence=recurrence, mode=mode, amp=amp, size=size, batch=batch,
                repeats=0, status=status, step_s=float('nan'), img_per_s=float('nan'),
                peak_extra_mb=float('nan'), peak_mb=float('nan'), speed_vs_timm=float('nan'),
                mem_vs_timm=float('nan'), device=device, threads=torch.get_num_threads(),
                detail='')


def _step_case(case: Case, record: Dict, first: bool, args) -> None:
    """Warm-up (first repeat), memory step, timed step; records into ``record``."""
    cap = None
    if args.max_memory_gb is not None and case.device.type != 'cuda':
        cap = args.max_memory_gb * 2 ** 30
        held = case.held_bytes()
        if held > cap:  # the weights and inputs alone: no step needed to know
            raise OverCap(f'held {held / 2 ** 20:.1f} MB > --max-memory-gb '
                          f'{args.max_memory_gb}')
    if first:
        case.probe_step()
        record['recurrence'] = case.recurrence
        for _ in range(args.warmup - 1):
            case.time_step()
    # The memory step first: the timed step then follows a step of the same case, so it
    # measures the steady state, not the switch from another model (caches, freed memory,
    # weights changed by a training step).
    extra, held = case.memory_step()
    peak = extra + held
    if cap is not None and peak > cap:
        raise OverCap(f'peak {peak / 2 ** 20:.1f} MB > --max-memory-gb {args.max_memory_gb}')
    record['mems'].append(extra)
    record['peaks'].append(peak)
    record['times'].append(case.time_step())


def run(args, on_repeat: Optional[Callable[[List[Dict]], None]] = None) -> List[Dict]:
    """All cases, ``args.repeats`` times; ``on_repeat(rows)`` after each repeat."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    _cap_memory(args, device)
    settings = parse_settings(args)
    factories = model_factories()
    models, skipped = {}, {}
    for name in args.models:
        try:
            models[name] = factories[name]().to(device)
        except ImportError as e:
            skipped[name] = f'unavailable ({e})'
            print(f'skipping {name}: {e}', file=sys.stderr)
    inputs = Inputs(device)
    optimizers = {}
    cases, results = {}, {}
    for size, batch in settings:
        for mode in args.modes:
            for amp in args.amp:
                for name in models:  # models of one (setting, mode, amp) back to back
                    key = (name, mode, size, batch, amp)
                    if mode == 'train' and name not in optimizers:
                        optimizers[name] = torch.optim.SGD(models[name].parameters(),
                                                           lr=1e-6, momentum=0.9)
                    cases[key] = Case(models[name], mode, size, batch, device, amp, inputs,
                                      optimizers.get(name))
                    results[key] = dict(times=[], mems=[], peaks=[], status='ok', detail='',
                                        recurrence='')
    # (model, mode, batch, amp) -> smallest size that ran out of memory: larger ones are not
    # run (settings are in the given order; a sweep's ascend)
    oom_at: Dict[tuple, int] = {}
    bar = _progress(args.repeats * len(cases))
    start = time.perf_counter()
    for repeat in range(args.repeats):
        if repeat and args.time_budget is not None \
                and time.perf_counter() - start > args.time_budget:
            print(f'\n--time-budget {args.time_budget:g} s spent: {repeat} of {args.repeats} '
                  'repeats (the rows\' repeats column)', file=sys.stderr)
            break
        # Interleave: every case once per repeat, so slow phases of a shared machine hit all.
        for key, case in cases.items():
            name, mode, size, batch, amp = key
            record = results[key]
            group = (name, mode, batch, amp)
            if record['status'] == 'ok' and group in oom_at and oom_at[group] < size:
                record.update(status='oom',
                              detail=f'not run: out of memory at {oom_at[group]} px')
            if record['status'] != 'ok':
                bar.update()
                continue
            try:
                _step_case(case, record, repeat == 0, args)
            except (RuntimeError, MemoryError, OverCap) as e:
                if is_out_of_memory(e):
                    record.update(status='oom', detail=f'{type(e).__name__}: {str(e)[:160]}')
                    oom_at[group] = min(size, oom_at.get(group, size))
                else:  # skip from now on
                    record['status'] = f'failed: {type(e).__name__}: {str(e)[:80]}'
                # the traceback's frames hold the step's activations
                traceback.clear_frames(e.__traceback__)
                del e
                case.release()
            bar.update()
        if on_repeat is not None:
            on_repeat(_rows(results, skipped, settings, args))
    print(file=sys.stderr)
    return _rows(results, skipped, settings, args)


def _rows(results, skipped, settings, args) -> List[Dict]:
    machine = machine_info(args.device)
    rows = []
    for (name, mode, size, batch, amp), record in results.items():
        row = _nan_row(name, mode, size, batch, amp, args.device, record['status'],
                       record['recurrence'])
        row.update(repeats=len(record['times']), detail=record['detail'])
        if record['times']:
            row['step_s'] = statistics.median(record['times'])
            row['img_per_s'] = batch / row['step_s']
            row['peak_extra_mb'] = statistics.median(record['mems']) / 2 ** 20
            row['peak_mb'] = statistics.median(record['peaks']) / 2 ** 20
        rows.append(row)
    by_key = {(r['model'], r['mode'], r['size'], r['batch'], r['amp']): r for r in rows}
    for row in rows:
        case = (row['mode'], row['size'], row['batch'], row['amp'])
        base = by_key.get((TIMM_BASELINE, *case))
        if base and base['repeats'] and row['repeats']:
            # Median of the per-repeat ratios: the two steps of a pair ran seconds apart, so
            # the slow drifts of a shared machine's load cancel out of each ratio.
            base_times = results[(TIMM_BASELINE, case[0], case[1], case[2], case[3])]['times']
            times = results[(row['model'], case[0], case[1], case[2], case[3])]['times']
            row['speed_vs_timm'] = statistics.median(b / t for b, t in zip(base_times, times))
            if base['peak_extra_mb'] > 0:
                row['mem_vs_timm'] = row['peak_extra_mb'] / base['peak_extra_mb']
    for name, why in skipped.items():
        for size, batch in settings:
            for mode in args.modes:
                for amp in args.amp:
                    rows.append(_nan_row(name, mode, size, batch, amp, args.device, why))
    for row in rows:
        row.update(machine)
    return rows


def write_csv(rows: List[Dict], path: str) -> None:
    """Atomically: a crash leaves the previous file, never half of one."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator='\n')
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(buf.getvalue().encode(), path)


def report(rows: List[Dict], out_dir: str, sweep: bool = False) -> Tuple[str, str]:
    os.makedirs(out_dir, exist_ok=True)
    print(f'machine: {machine_line(rows[0])}; device {rows[0]["device"]}, '
          f'{rows[0]["threads"]} threads')
    header = (f'{"model":<20} {"recurrence":<22} {"mode":<5} {"amp":<4} {"size":>5} '
              f'{"batch":>5} {"step s":>8} {"img/s":>8} {"extra MB":>9} {"peak MB":>9} '
              f'{"speed ratio":>11} {"mem ratio":>9}  status')
    print(header)
    print('-' * len(header))
    for r in rows:
        print(f'{r["model"]:<20} {r["recurrence"]:<22} {r["mode"]:<5} {r["amp"]:<4} '
              f'{r["size"]:>5} {r["batch"]:>5} {r["step_s"]:>8.3f} {r["img_per_s"]:>8.2f} '
              f'{r["peak_extra_mb"]:>9.1f} {r["peak_mb"]:>9.1f} {r["speed_vs_timm"]:>11.2f} '
              f'{r["mem_vs_timm"]:>9.2f}  {r["status"]} {r["detail"]}'.rstrip())
    print(f'(medians over repeats; speed ratio = median over repeats of timm step time / '
          f'step time, timed one after the other; mem ratio = extra memory / timm extra '
          f'memory; baseline {TIMM_BASELINE}; device {rows[0]["device"]})')
    stem = 'sweep' if sweep else 'benchmark'
    csv_path = os.path.join(out_dir, f'{stem}.csv')
    write_csv(rows, csv_path)
    png_path = os.path.join(out_dir, f'{stem}.png')
    (plot_sweep if sweep else plot)(rows, png_path)
    print(f'wrote {csv_path} and {png_path}')
    return csv_path, png_path


def _label(row: Dict, with_amp: bool) -> str:
    label = f'{row["model"]} [{row["recurrence"] or "not run"}]'
    return f'{label} amp={row["amp"]}' if with_amp else label


def _save_png(fig, path: str) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=90)
    atomic_write_bytes(buf.getvalue(), path)


def plot(rows: List[Dict], path: str):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    modes = sorted({r['mode'] for r in rows})
    with_amp = len({r['amp'] for r in rows}) > 1
    fig, axes = plt.subplots(2, len(modes), figsize=(6 * len(modes), 8), squeeze=False)
    for col, mode in enumerate(modes):
        for model, amp in sorted({(r['model'], r['amp']) for r in rows}):
            mine = [r for r in rows if r['model'] == model and r['mode'] == mode
                    and r['amp'] == amp and not math.isnan(r['img_per_s'])]
            if not mine:
                continue
            mine.sort(key=lambda r: (r['size'], r['batch']))
            labels = [f'{r["size"]}:{r["batch"]}' for r in mine]
            label = _label(mine[0], with_amp)
            axes[0][col].plot(labels, [r['img_per_s'] for r in mine], marker='o', label=label)
            axes[1][col].plot(labels, [r['peak_extra_mb'] for r in mine], marker='o',
                              label=label)
        axes[0][col].set_title(f'{mode}: throughput ({rows[0]["device"]})')
        axes[0][col].set_ylabel('images / s')
        axes[1][col].set_title(f'{mode}: peak extra memory')
        axes[1][col].set_ylabel('MB')
        axes[1][col].set_xlabel('size:batch')
        axes[0][col].legend(fontsize=7)
    fig.suptitle(machine_line(rows[0]), fontsize=9)
    fig.tight_layout()
    _save_png(fig, path)
    plt.close(fig)


def plot_sweep(rows: List[Dict], path: str):
    """Throughput (log scale) and peak memory against resolution, one line per model (and
    AMP choice), a cross on the top edge where a size ran out of memory (Fig. 3 bottom)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    modes = sorted({r['mode'] for r in rows})
    with_amp = len({r['amp'] for r in rows}) > 1
    fig, axes = plt.subplots(2, len(modes), figsize=(6.5 * len(modes), 8), squeeze=False)
    cycle = plt.rcParams['axes.prop_cycle'].by_key()['color']
    for col, mode in enumerate(modes):
        top, bottom = axes[0][col], axes[1][col]
        for i, (model, amp) in enumerate(sorted({(r['model'], r['amp']) for r in rows})):
            mine = sorted((r for r in rows if r['model'] == model and r['mode'] == mode
                           and r['amp'] == amp), key=lambda r: r['size'])
            if not mine:
                continue
            color = cycle[i % len(cycle)]
            ran = [r for r in mine if not math.isnan(r['img_per_s'])]
            label = _label(ran[0] if ran else mine[0], with_amp)
            if ran:
                top.plot([r['size'] for r in ran], [r['img_per_s'] for r in ran], marker='o',
                         color=color, label=label)
                bottom.plot([r['size'] for r in ran], [r['peak_mb'] for r in ran],
                            marker='o', color=color, label=label)
            for ax in (top, bottom):
                for r in mine:
                    if r['status'] == 'oom':  # x in data, y near the top edge, per model
                        ax.plot(r['size'], 0.97 - 0.035 * i, marker='x', color=color,
                                markersize=8, transform=ax.get_xaxis_transform(),
                                clip_on=False)
        top.set_yscale('log')
        batches = sorted({r['batch'] for r in rows if r['mode'] == mode})
        top.set_title(f'{mode}: throughput, batch {"/".join(map(str, batches))} '
                      f'({rows[0]["device"]})')
        top.set_ylabel('images / s')
        bottom.set_title(f'{mode}: peak memory (x on the top edge: out of memory)')
        bottom.set_ylabel('MB')
        bottom.set_xlabel('resolution (px)')
        sizes = sorted({r['size'] for r in rows})
        for ax in (top, bottom):
            ax.set_xticks(sizes)
        top.legend(fontsize=7)
    fig.suptitle(machine_line(rows[0]), fontsize=9)
    fig.tight_layout()
    _save_png(fig, path)
    plt.close(fig)


def main(argv: Optional[List[str]] = None):
    args = parse_args(argv)
    sweep = args.sweep is not None
    os.makedirs(args.out_dir, exist_ok=True)
    partial = os.path.join(args.out_dir, ('sweep' if sweep else 'benchmark') + '.csv')
    # the finished repeats are on disk after each one: a crash keeps what was measured
    rows = run(args, on_repeat=lambda rows: write_csv(rows, partial))
    return report(rows, args.out_dir, sweep=sweep)


if __name__ == '__main__':
    main()
