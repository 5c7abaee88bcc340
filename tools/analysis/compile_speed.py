"""Eager vs ``torch.compile`` step time of Sequencer2D (fused BiLSTM2D) with the paper's head,
inference and training steps, measured side by side in one process.

For each mode the model is compiled once (``torch.compile(model, dynamic=False)``; the time the
first call takes, compilation included, is reported apart), both versions are warmed up, and
then every repeat times one eager and one compiled step back to back, alternating which goes
first, so that slow changes of a shared machine's load hit both. The report gives the medians
and the median of the per-repeat ratios, Dynamo's graph and graph-break counts
(``torch._dynamo.explain``) and the largest difference between the compiled and eager outputs.

A training step is forward, cross-entropy loss and backward (no optimizer step; the backward
is compiled by AOTAutograd).

Examples::

    python tools/analysis/compile_speed.py                       # S, 224 px, batch 8, 2 threads
    python tools/analysis/compile_speed.py --modes infer --size 384 --batch 4 --repeats 10
    python tools/analysis/compile_speed.py --device cuda --batch 64    # CUDA events, TF32 default
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmseq.utils.timing import cpu_model


class SequencerClassifier(nn.Module):
    """Sequencer2D backbone + global average pooling + linear, on plain tensors."""

    def __init__(self, arch: str, num_classes: int = 1000):
        super().__init__()
        from mmseq.models import Sequencer2D
        self.backbone = Sequencer2D(arch)
        self.backbone.init_weights()
        self.head = nn.Linear(self.backbone.embed_dims[-1], num_classes)

    def forward(self, x):
        return self.head(self.backbone(x)[-1].mean((2, 3)))


def make_step(model: nn.Module, mode: str, x: torch.Tensor, target: torch.Tensor):
    """One step of ``mode`` on ``model`` (eager or compiled): returns the output it checks."""
    if mode == 'infer':
        def step():
            with torch.no_grad():
                return model(x)
    else:
        params = [p for p in model.parameters() if p.requires_grad]

        def step():
            for p in params:
                p.grad = None
            loss = F.cross_entropy(model(x), target)
            loss.backward()
            return loss.detach()
    return step


def explain(model: nn.Module, mode: str, x: torch.Tensor, target: torch.Tensor):
    torch._dynamo.reset()
    if mode == 'infer':
        with torch.no_grad():
            report = torch._dynamo.explain(model)(x)
    else:
        report = torch._dynamo.explain(lambda inp: F.cross_entropy(model(inp), target))(x)
    torch._dynamo.reset()
    return report.graph_count, report.graph_break_count, [str(b.reason) for b in
                                                          report.break_reasons]


def timed(fn, device: torch.device) -> float:
    if device.type != 'cuda':
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1000


def measure(args, mode: str) -> dict:
    torch.manual_seed(0)
    model = SequencerClassifier(args.arch).to(args.device).train(mode == 'train')
    x = torch.randn(args.batch, 3, args.size, args.size, device=args.device)
    target = torch.randint(0, 1000, (args.batch,), device=args.device)
    graphs, breaks, reasons = explain(model, mode, x, target)
    print(f'[{mode}] Dynamo: {graphs} graph(s), {breaks} graph break(s)', flush=True)
    for reason in reasons:
        print(f'[{mode}]   break: {reason}', flush=True)

    compiled = torch.compile(model, dynamic=False, backend=args.backend)
    eager_step = make_step(model, mode, x, target)
    compiled_step = make_step(compiled, mode, x, target)
    print(f'[{mode}] compiling ({args.backend}) ...', flush=True)
    first_call = timed(compiled_step, args.device)
    print(f'[{mode}] first compiled call (compilation included): {first_call:.1f} s',
          flush=True)
    ref, out = eager_step(), compiled_step()
    max_diff = (ref - out).abs().max().item()
    for _ in range(args.warmup):
        eager_step(), compiled_step()

    times = {'eager': [], 'compiled': []}
    steps = (('eager', eager_step), ('compiled', compiled_step))
    for repeat in range(args.repeats):
        for name, step in (steps if repeat % 2 == 0 else steps[::-1]):
            times[name].append(timed(step, args.device))
        print(f'[{mode}] repeat {repeat + 1}/{args.repeats}: eager {times["eager"][-1]:.3f} s, '
              f'compiled {times["compiled"][-1]:.3f} s', flush=True)
    ratios = [e / c for e, c in zip(times['eager'], times['compiled'])]
    return dict(mode=mode, graphs=graphs, graph_breaks=breaks, break_reasons=reasons,
                first_compiled_call_s=first_call, max_abs_diff=max_diff,
                eager_s=statistics.median(times['eager']),
                compiled_s=statistics.median(times['compiled']),
                speedup=statistics.median(ratios), eager_all=times['eager'],
                compiled_all=times['compiled'])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--arch', default='s', help="Sequencer2D arch (default 's')")
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--modes', nargs='+', choices=['infer', 'train'],
                        default=['infer', 'train'])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed steps of each version after the first')
    parser.add_argument('--backend', default='inductor', help="torch.compile's backend")
    parser.add_argument('--device', default='cpu',
                        help="'cpu' (default), 'cuda' or 'cuda:N' (mmseq.utils.resolve_device)")
    parser.add_argument('--out', help='also write the results as JSON to this file')
    args = parser.parse_args(argv)
    if args.size < 14 or args.batch < 1 or args.repeats < 1 or args.threads < 1:
        parser.error('--size must be >= 14; --batch, --repeats and --threads >= 1')
    from mmseq.utils import resolve_device
    args.device = resolve_device(args.device)
    if args.device.type == 'cuda':
        torch.cuda.set_device(args.device)
    torch.set_num_threads(args.threads)
    where = (torch.cuda.get_device_name(args.device) if args.device.type == 'cuda'
             else f'{args.threads} thread(s), {cpu_model()}')
    info = dict(cpu=cpu_model(), threads=args.threads, torch=torch.__version__,
                device=str(args.device), device_name=where, arch=args.arch, size=args.size,
                batch=args.batch, backend=args.backend)
    print(f'Sequencer2D-{args.arch.upper()} at {args.size} px, batch {args.batch}, '
          f'{where}, torch {torch.__version__}', flush=True)
    results = [measure(args, mode) for mode in args.modes]

    print('\n| mode | graphs | graph breaks | eager (s) | compiled (s) | eager / compiled '
          '| first compiled call (s) | max |compiled - eager| |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- |')
    for r in results:
        print(f'| {r["mode"]} | {r["graphs"]} | {r["graph_breaks"]} | {r["eager_s"]:.3f} '
              f'| {r["compiled_s"]:.3f} | {r["speedup"]:.3f} | {r["first_compiled_call_s"]:.1f} '
              f'| {r["max_abs_diff"]:.1e} |')
    if args.out:
        from mmseq.utils.fileio import atomic_write_bytes
        atomic_write_bytes(json.dumps(dict(info, results=results), indent=2).encode(),
                           args.out)
        print(f'results written to {args.out}')


if __name__ == '__main__':
    sys.exit(main())
