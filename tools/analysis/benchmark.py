"""Throughput and peak memory of Sequencer2D (each BiLSTM2D implementation) next to timm's
Sequencer2d and mmpretrain's ConvNeXt-T / DeiT-S, for inference and training steps.

All models run in one process, side by side: every repeat runs every (setting, mode, model)
once, the models of one setting and mode back to back, so machine noise is spread over all of
them; the report gives medians over repeats, and speed ratios against timm's
``sequencer2d_s`` as the median of the per-repeat ratios (each pair timed within seconds, so
slow changes of a shared machine's load cancel out).

Time and memory come from separate steps (the memory sampler would slow a timed step); the
timed step directly follows the memory step of the same case.
Memory: on CPU the peak RSS during the step minus the RSS just before it (sampled by a thread
from /proc/self/statm; glibc's free lists are trimmed with ``malloc_trim`` before each step so
memory freed by earlier steps does not hide the step's own growth); on CUDA
``max_memory_allocated`` minus the allocation before the step.

Examples::

    python tools/analysis/benchmark.py --quick                   # a few minutes on 2 cores
    python tools/analysis/benchmark.py --models seq2d-s-fused seq2d-s-reference timm-seq2d-s \\
        convnext-t deit-s --settings 224:8 384:4 512:2 --modes infer train --repeats 5
"""
import argparse
import csv
import math
import os
import statistics
import sys
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn

TINY_ARCH = dict(layers=[1, 1, 1, 1], patch_sizes=[7, 2, 1, 1], embed_dims=[16, 32, 32, 32],
                 hidden_sizes=[4, 8, 8, 8], mlp_ratios=[2, 2, 2, 2])
TIMM_BASELINE = 'timm-seq2d-s'
QUICK = dict(models=['seq2d-s-fused', 'seq2d-s-reference', TIMM_BASELINE],
             settings=['224:8', '512:2'], modes=['infer', 'train'], repeats=3)


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
        from mmpretrain.registry import MODELS
        from mmpretrain.utils import register_all_modules
        register_all_modules(init_default_scope=False)
        self.model = MODELS.build(cfg)

    def forward(self, x):
        out = self.model(x, mode='tensor')
        return out[-1] if isinstance(out, (tuple, list)) else out


def _mmpretrain_cfg(name: str) -> Dict:
    if name == 'convnext-t':
        return dict(type='ImageClassifier', backbone=dict(type='ConvNeXt', arch='tiny'),
                    head=dict(type='LinearClsHead', num_classes=1000, in_channels=768))
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
    for name in ('convnext-t', 'deit-s'):
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


class PeakRSS:
    """Samples the process RSS in a thread while the block runs."""

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
        self.base = self.peak = _rss_bytes()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())

    @property
    def extra(self) -> int:
        return self.peak - self.base


class Case:
    """One model in one mode at one setting: ``time_step()`` and ``memory_step()``."""

    def __init__(self, model: nn.Module, mode: str, size: int, batch: int, device: str):
        self.model, self.mode, self.device = model, mode, torch.device(device)
        self.images = torch.randn(batch, 3, size, size, device=self.device)
        self.targets = torch.randint(0, 10, (batch,), device=self.device)
        if mode == 'train':
            self.optimizer = torch.optim.SGD(model.parameters(), lr=1e-6, momentum=0.9)

    def _run(self):
        if self.mode == 'infer':
            self.model.eval()
            with torch.no_grad():
                self.model(self.images)
        else:
            self.model.train()
            self.optimizer.zero_grad(set_to_none=True)
            logits = self.model(self.images)
            nn.functional.cross_entropy(logits, self.targets).backward()
            self.optimizer.step()

    def time_step(self) -> float:
        """Seconds of one step, with nothing else running in the process."""
        if self.device.type == 'cuda':
            torch.cuda.synchronize()
        start = time.perf_counter()
        self._run()
        if self.device.type == 'cuda':
            torch.cuda.synchronize()
        return time.perf_counter() - start

    def memory_step(self) -> int:
        """Peak extra bytes of one step. A separate, untimed step: on CPU the RSS sampler is a
        thread that would take a core (and the GIL) from a timed step."""
        if self.device.type == 'cuda':
            torch.cuda.synchronize()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            self._run()
            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated() - base
        with PeakRSS() as mem:
            self._run()
        return mem.extra


def parse_settings(args) -> List[Tuple[int, int]]:
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
    parser = argparse.ArgumentParser(description='Sequencer2D throughput / memory benchmark')
    parser.add_argument('--models', nargs='+', default=None,
                        help=f'names among {sorted(model_factories())}')
    parser.add_argument('--settings', nargs='+', default=None,
                        help='SIZE:BATCH pairs, e.g. 224:8 512:2')
    parser.add_argument('--sizes', type=int, nargs='+', default=[224])
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[8])
    parser.add_argument('--modes', nargs='+', choices=['infer', 'train'],
                        default=['infer', 'train'])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1, help='untimed steps per case')
    parser.add_argument('--quick', action='store_true',
                        help='S fused/reference vs timm at 224:8 and 512:2, 3 repeats')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--out-dir', default='work_dirs/benchmark')
    args = parser.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            if key == 'models' and args.models:
                continue
            setattr(args, key, value)
    args.models = args.models or QUICK['models']
    unknown = [m for m in args.models if m not in model_factories()]
    if unknown:
        parser.error(f'unknown models {unknown}; choose from {sorted(model_factories())}')
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        parser.error('--device cuda but CUDA is not available')
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


def run(args) -> List[Dict]:
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = parse_settings(args)
    factories = model_factories()
    models, skipped = {}, {}
    for name in args.models:
        try:
            models[name] = factories[name]().to(args.device)
        except ImportError as e:
            skipped[name] = f'unavailable ({e})'
            print(f'skipping {name}: {e}', file=sys.stderr)
    cases = {}
    results = {}
    for size, batch in settings:
        for mode in args.modes:
            for name in models:  # models of one (setting, mode) back to back: paired ratios
                key = (name, mode, size, batch)
                cases[key] = Case(models[name], mode, size, batch, args.device)
                results[key] = dict(times=[], mems=[], status='ok')
    bar = _progress(args.repeats * len(cases))
    for repeat in range(args.repeats):
        # Interleave: every case once per repeat, so slow phases of a shared machine hit all.
        for key, case in cases.items():
            record = results[key]
            if record['status'] != 'ok':
                bar.update()
                continue
            try:
                if repeat == 0:
                    for _ in range(args.warmup):
                        case.time_step()
                # The memory step first: the timed step then follows a step of the same case,
                # so it measures the steady state, not the switch from another model (caches,
                # freed memory, weights changed by a training step).
                record['mems'].append(case.memory_step())
                record['times'].append(case.time_step())
            except (RuntimeError, MemoryError) as e:  # out of memory: skip from now on
                record['status'] = f'failed: {type(e).__name__}: {str(e)[:80]}'
                if args.device.startswith('cuda'):
                    torch.cuda.empty_cache()
            bar.update()
    print(file=sys.stderr)
    rows = []
    for (name, mode, size, batch), record in results.items():
        row = dict(model=name, mode=mode, size=size, batch=batch, repeats=len(record['times']),
                   status=record['status'], step_s=float('nan'), img_per_s=float('nan'),
                   peak_extra_mb=float('nan'), speed_vs_timm=float('nan'),
                   mem_vs_timm=float('nan'), device=args.device,
                   threads=torch.get_num_threads())
        if record['times']:
            row['step_s'] = statistics.median(record['times'])
            row['img_per_s'] = batch / row['step_s']
            row['peak_extra_mb'] = statistics.median(record['mems']) / 2 ** 20
        rows.append(row)
    by_key = {(r['model'], r['mode'], r['size'], r['batch']): r for r in rows}
    for row in rows:
        base = by_key.get((TIMM_BASELINE, row['mode'], row['size'], row['batch']))
        if base and base['repeats'] and row['repeats']:
            # Median of the per-repeat ratios: the two steps of a pair ran seconds apart, so
            # the slow drifts of a shared machine's load cancel out of each ratio.
            base_times = results[(TIMM_BASELINE, row['mode'], row['size'], row['batch'])]['times']
            times = results[(row['model'], row['mode'], row['size'], row['batch'])]['times']
            row['speed_vs_timm'] = statistics.median(b / t for b, t in zip(base_times, times))
            if base['peak_extra_mb'] > 0:
                row['mem_vs_timm'] = row['peak_extra_mb'] / base['peak_extra_mb']
    for name, why in skipped.items():
        for size, batch in settings:
            for mode in args.modes:
                rows.append(dict(model=name, mode=mode, size=size, batch=batch, repeats=0,
                                 status=why, step_s=float('nan'), img_per_s=float('nan'),
                                 peak_extra_mb=float('nan'), speed_vs_timm=float('nan'),
                                 mem_vs_timm=float('nan'), device=args.device,
                                 threads=torch.get_num_threads()))
    return rows


def report(rows: List[Dict], out_dir: str) -> Tuple[str, str]:
    os.makedirs(out_dir, exist_ok=True)
    header = (f'{"model":<20} {"mode":<5} {"size":>5} {"batch":>5} {"step s":>8} '
              f'{"img/s":>8} {"extra MB":>9} {"speed ratio":>11} {"mem ratio":>9}  status')
    print(header)
    print('-' * len(header))
    for r in rows:
        print(f'{r["model"]:<20} {r["mode"]:<5} {r["size"]:>5} {r["batch"]:>5} '
              f'{r["step_s"]:>8.3f} {r["img_per_s"]:>8.2f} {r["peak_extra_mb"]:>9.1f} '
              f'{r["speed_vs_timm"]:>11.2f} {r["mem_vs_timm"]:>9.2f}  {r["status"]}')
    print(f'(medians over repeats; speed ratio = median over repeats of timm step time / '
          f'step time, timed one after the other; mem ratio = extra memory / timm extra '
          f'memory; baseline {TIMM_BASELINE})')
    csv_path = os.path.join(out_dir, 'benchmark.csv')
    with open(csv_path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    png_path = os.path.join(out_dir, 'benchmark.png')
    plot(rows, png_path)
    print(f'wrote {csv_path} and {png_path}')
    return csv_path, png_path


def plot(rows: List[Dict], path: str):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    modes = sorted({r['mode'] for r in rows})
    fig, axes = plt.subplots(2, len(modes), figsize=(6 * len(modes), 8), squeeze=False)
    for col, mode in enumerate(modes):
        for model in sorted({r['model'] for r in rows}):
            pts = sorted((r['size'], r['batch'], r['img_per_s'], r['peak_extra_mb'])
                         for r in rows if r['model'] == model and r['mode'] == mode
                         and not math.isnan(r['img_per_s']))
            if not pts:
                continue
            labels = [f'{s}:{b}' for s, b, _, _ in pts]
            axes[0][col].plot(labels, [p[2] for p in pts], marker='o', label=model)
            axes[1][col].plot(labels, [p[3] for p in pts], marker='o', label=model)
        axes[0][col].set_title(f'{mode}: throughput')
        axes[0][col].set_ylabel('images / s')
        axes[1][col].set_title(f'{mode}: peak extra memory')
        axes[1][col].set_ylabel('MB')
        axes[1][col].set_xlabel('size:batch')
        axes[0][col].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: Optional[List[str]] = None):
    args = parse_args(argv)
    rows = run(args)
    return report(rows, args.out_dir)


if __name__ == '__main__':
    main()
