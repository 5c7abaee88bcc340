#!/usr/bin/env python
"""Train and test backbones on one real task with one recipe, several times each, and print
one table: parameters and FLOPs at the test size (with their ratio to a reference model, and
the budget each row matches), inference throughput and peak memory of the whole model,
training time, and the held-out result as mean and standard deviation over the seeds.

    python tools/analysis/compare_backbones.py --seeds 3            # Semantic FPN, HeLa nuclei
    python tools/analysis/compare_backbones.py --task det --seeds 3 # RetinaNet, HeLa nuclei
    python tools/analysis/compare_backbones.py --sizes-only         # costs and budgets only
    python tools/analysis/compare_backbones.py --fit flops configs/demo/sem_fpn_seq2d_hela_cpu.py
    python tools/analysis/compare_backbones.py CONFIG ... [--nproc 2] [--work-dir DIR]

The default configs of a task are the demo's small Sequencer2D (configs/demo/), the same
model scaled to the reference's FLOPs (seg) and to its parameters (configs/demo/budget/), and
the backbones of the downstream libraries (configs/demo/backbones/: a ResNet-18 of half width,
the reference, a small ConvNeXt and a small Swin Transformer): same data, neck, head, schedule
and optimiser. (RetinaNet's neck and head on the demo's stride-7 pyramid alone cost more than
the reference's whole detector, so no Sequencer2D width matches its FLOPs.) A row matches a
budget (FLOPs or params) when its whole-model count is within ``--tolerance`` of the
reference's. ``--fit`` scales a Sequencer2D config's widths to one of the reference's budgets
and writes the config.

Each (config, seed) is trained with tools/dist_train.sh and tested with tools/dist_test.sh on
the held-out data, one after the other, so the training times compare on this machine.
Costs are counted by tools/analysis/get_flops.py (mmengine's counter with mmseq's LSTM
handles) on one test image as the model sees it (padded). Throughput (images/s, batch 1 and
``--speed-batch``) is measured on the whole network (tensor mode, no post-processing,
random weights) at the test size, all configs interleaved in this run after the training;
peak memory of a ``--speed-batch`` step in fresh processes, one config at a time. Results
are kept in WORK_DIR/results.json as each run finishes (a rerun skips the runs found there;
``--rerun`` trains them again); WORK_DIR also gets runs.csv (every
run), summary.csv and table.md (mean and standard deviation per config) and compare.png
(the first metric against FLOPs and against throughput). Every output names the CPU, its
cores, torch's version and the date.
"""
import argparse
import importlib.util
import json
import math
import os
import os.path as osp
import statistics
import subprocess
import sys
import textwrap
import time
import warnings
from typing import Dict, List, Optional, Sequence

from mmseq.utils.timing import machine_info, machine_line

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))
DEMO = {'seg': 'configs/demo/sem_fpn_seq2d_hela_cpu.py',
        'det': 'configs/demo/retinanet_seq2d_hela_cpu.py'}
DEFAULTS = {
    'seg': [DEMO['seg'],
            'configs/demo/budget/sem_fpn_seq2d-flops_hela_cpu.py',
            'configs/demo/budget/sem_fpn_seq2d-params_hela_cpu.py',
            'configs/demo/backbones/sem_fpn_r18-half_hela_cpu.py',
            'configs/demo/backbones/sem_fpn_convnext-mini_hela_cpu.py',
            'configs/demo/backbones/sem_fpn_swin-mini_hela_cpu.py'],
    'det': [DEMO['det'],
            'configs/demo/budget/retinanet_seq2d-params_hela_cpu.py',
            'configs/demo/backbones/retinanet_r18-half_hela_cpu.py',
            'configs/demo/backbones/retinanet_convnext-mini_hela_cpu.py',
            'configs/demo/backbones/retinanet_swin-mini_hela_cpu.py'],
}
REFERENCE = {'seg': 'configs/demo/backbones/sem_fpn_r18-half_hela_cpu.py',
             'det': 'configs/demo/backbones/retinanet_r18-half_hela_cpu.py'}
# What the test tool prints, per task: (column, pattern); the first is the plotted one.
METRICS = {
    'seg': [('nucleus IoU', r'^\|\s+nucleus\s+\|\s+([0-9.]+)'), ('mIoU', r'mIoU: ([0-9.]+)')],
    'det': [('AP', r'bbox_mAP: ([0-9.-]+)'), ('AP50', r'bbox_mAP_50: ([0-9.-]+)')],
}
BUDGETS = (('FLOPs', 'flops'), ('params', 'params'))


def _sibling(name: str):
    """A tool of this folder as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f'mmseq_tools_{name}',
                                                  osp.join(HERE, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Train and test backbones on one real task with one recipe, N seeds each; '
        'print params and FLOPs with their ratio to a reference (the budget each row '
        'matches), inference throughput and memory, training time and the held-out result '
        '(mean and std over the seeds), and plot accuracy against FLOPs and throughput')
    parser.add_argument('configs', nargs='*', help='configs to compare (default: the task\'s, '
                        'see --task); with --fit, the one Sequencer2D config to scale')
    parser.add_argument('--task', choices=sorted(DEFAULTS), default='seg',
                        help='default configs: seg = Semantic FPN, det = RetinaNet (HeLa)')
    parser.add_argument('--seeds', type=int, default=1,
                        help='train every config this many times, with seeds 0..N-1 '
                        '(randomness.seed)')
    parser.add_argument('--reference', default=None,
                        help='the config whose FLOPs and params set the budgets (default: the '
                        "task's ResNet-18 of half width)")
    parser.add_argument('--tolerance', type=float, default=0.1,
                        help='a row matches a budget within this relative difference')
    parser.add_argument('--sizes-only', action='store_true',
                        help='only count params and FLOPs and their ratios to the reference')
    parser.add_argument('--fit', choices=['flops', 'params'], default=None,
                        help="scale the widths of one Sequencer2D config's backbone to the "
                        "reference's FLOPs or params and write the config (--fit-out)")
    parser.add_argument('--fit-out', default=None,
                        help='where --fit writes its config (default: configs/demo/budget/, '
                        'the name with seq2d-BUDGET for seq2d)')
    parser.add_argument('--shape', type=int, nargs=2, default=None, metavar=('H', 'W'),
                        help='test size to count and time (default: the first test image of '
                        'the data, as the test pipeline resizes it)')
    parser.add_argument('--nproc', type=int, default=2, help='training/testing processes')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads of the throughput measurement (default: --nproc)')
    parser.add_argument('--speed-batch', type=int, default=4,
                        help='the larger batch of the throughput measurement (besides 1)')
    parser.add_argument('--speed-repeats', type=int, default=3,
                        help='timed steps per config and batch (median)')
    parser.add_argument('--no-speed', action='store_true',
                        help='skip the throughput and memory measurement')
    parser.add_argument('--work-dir', default=None,
                        help='logs, checkpoints, results.json, tables and the plot (default: '
                        'work_dirs/compare_backbones_TASK)')
    parser.add_argument('--data-root', default='data/hela',
                        help='the HeLa data (converted from the cache when absent)')
    parser.add_argument('--rerun', action='store_true',
                        help='train again the runs already in results.json')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='overrides for every config (e.g. train_cfg.max_iters=50)')
    args = parser.parse_args(argv)
    if args.fit and len(args.configs) != 1:
        parser.error('--fit takes exactly one config')
    args.configs = args.configs or DEFAULTS[args.task]
    args.reference = args.reference or REFERENCE[args.task]
    args.work_dir = args.work_dir or f'work_dirs/compare_backbones_{args.task}'
    for config in [*args.configs, args.reference]:
        if not osp.isfile(osp.join(REPO, config)):
            parser.error(f'no such config: {config}')
    if args.nproc < 1 or args.seeds < 1 or args.speed_batch < 1 or args.speed_repeats < 1:
        parser.error('--nproc, --seeds, --speed-batch and --speed-repeats must be at least 1')
    if not 0 < args.tolerance < 1:
        parser.error('--tolerance is a fraction between 0 and 1')
    args.threads = args.threads or args.nproc
    return args


def name_of(config: str) -> str:
    return osp.splitext(osp.basename(config))[0]


def _options(options: Sequence[str]) -> Optional[Dict]:
    if not options:
        return None
    from mmengine.config import DictAction
    namespace = argparse.Namespace()
    DictAction(option_strings=[], dest='o')(None, namespace, list(options))
    return namespace.o


# ----------------------------------------------------------------- costs and budgets
def test_shape(config: str, options: Sequence[str]) -> List[int]:
    """(H, W) of the first test image after the config's test pipeline (before padding)."""
    from mmengine.registry import DATASETS, init_default_scope

    from mmseq.utils import load_config
    cfg = load_config(config, _options(options))
    init_default_scope(cfg.get('default_scope'))
    sample = DATASETS.build(cfg.test_dataloader.dataset)[0]['data_samples']
    return list(sample.img_shape[:2])


def size_of(config: str, options: Sequence[str], shape: Sequence[int]) -> Dict:
    """Parameters (whole model, backbone) and FLOPs of one ``shape`` image, as the model sees
    it (padded by its data preprocessor); the parts as tools/analysis/get_flops.py counts
    them."""
    get_flops = _sibling('get_flops')
    model = get_flops.build_model(config, _options(options))
    costs = get_flops.model_costs(model, shape)
    return dict(params=costs['params'], backbone_params=costs['summary']['backbone']['params'],
                backbone=model.cfg.model.backbone.type, flops=costs['flops'],
                backbone_flops=costs['summary']['backbone']['flops'], input=costs['input'],
                shape=list(shape))


def budget_of(size: Dict, reference: Dict, tolerance: float) -> Dict:
    """Ratios of a model's FLOPs and params to the reference's, and the budgets it matches
    (within ``tolerance``)."""
    ratios = {key: size[key] / reference[key] for _, key in BUDGETS}
    matched = [label for label, key in BUDGETS if abs(ratios[key] - 1) <= tolerance]
    return dict(flops_ratio=ratios['flops'], params_ratio=ratios['params'],
                budget=', '.join(matched) if matched else '-')


# ----------------------------------------------------------------- fitting a budget
def scaled_arch(arch: Dict, factor: float, multiple: int = 8) -> Dict:
    """A Sequencer2D arch with its stage widths times ``factor`` (rounded to ``multiple``) and
    its LSTM hidden sizes in the same proportion to the widths."""
    arch = dict(arch)
    dims = [max(multiple, int(round(c * factor / multiple)) * multiple)
            for c in arch['embed_dims']]
    arch['hidden_sizes'] = [max(1, int(round(h * new / c))) for h, c, new in
                            zip(arch['hidden_sizes'], arch['embed_dims'], dims)]
    arch['embed_dims'] = dims
    return arch


def _arch_of(backbone: Dict) -> Dict:
    from mmseq.models.backbones.sequencer2d import Sequencer2D
    arch = backbone.get('arch', 's')
    if isinstance(arch, str):
        arch = Sequencer2D.arch_zoo[arch]
    return {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in dict(arch).items()
            if k != '_delete_'}


def _fit_overrides(cfg, arch: Dict) -> Dict:
    """The config changes for ``arch``: the backbone's arch and the neck's input widths."""
    indices = cfg.model.backbone.get('out_indices', (0, 1, 2, 3))
    indices = [indices] if isinstance(indices, int) else list(indices)
    overrides = {'model.backbone.arch': arch}
    neck = cfg.model.get('neck')
    if isinstance(neck, dict) and 'in_channels' in neck:
        overrides['model.neck.in_channels'] = [arch['embed_dims'][i] for i in indices]
    return overrides


def fit_budget(config: str, key: str, target: float, shape: Sequence[int],
               options: Sequence[str], steps: int = 10, multiple: int = 8) -> Dict:
    """The width factor of ``config``'s Sequencer2D whose whole-model ``key`` ('flops' or
    'params') at ``shape`` comes closest to ``target``: bisection on the factor (the count
    grows with the widths), widths rounded to multiples of ``multiple``."""
    from mmseq.utils import load_config
    get_flops = _sibling('get_flops')
    cfg = load_config(config, _options(options))
    if not str(cfg.model.backbone.type).endswith('Sequencer2D'):
        raise SystemExit(f'{config}: --fit scales a Sequencer2D backbone, not '
                         f'{cfg.model.backbone.type}')
    base = _arch_of(cfg.model.backbone)
    seen = {}

    def measure(factor):
        arch = scaled_arch(base, factor, multiple)
        token = json.dumps(arch, sort_keys=True)
        if token not in seen:
            overrides = dict(_options(options) or {}, **_fit_overrides(cfg, arch))
            model = get_flops.build_model(config, overrides)
            value = (get_flops.count_params(model) if key == 'params'
                     else get_flops.model_costs(model, shape)['flops'])
            seen[token] = dict(factor=factor, arch=arch, value=value)
            shown = f'{value / 1e9:.2f}G' if key == 'flops' else f'{value / 1e6:.3f}M'
            print(f'  widths {arch["embed_dims"]}: {key} {shown} ({value / target:.3f}x the '
                  'reference)', flush=True)
        return seen[token]['value']

    low, high = 0.25, 4.0
    for _ in range(steps):
        mid = math.sqrt(low * high)
        if measure(mid) < target:
            low = mid
        else:
            high = mid
        if high / low < 1.02:
            break
    best = min(seen.values(), key=lambda r: abs(math.log(r['value'] / target)))
    best['overrides'] = _fit_overrides(cfg, best['arch'])
    best['ratio'] = best['value'] / target
    return best


def fit_config_text(config: str, out: str, key: str, fit: Dict, reference: str,
                    shape: Sequence[int]) -> str:
    """A config inheriting ``config`` with the fitted arch."""
    base = osp.relpath(osp.join(REPO, config), osp.dirname(osp.abspath(out)))
    arch = fit['arch']
    label = dict(flops='FLOPs', params='parameters')[key]
    arch_text = ',\n    '.join(f'{k}={v!r}' for k, v in arch.items())
    where = f' at the test size ({shape[0]}x{shape[1]})' if key == 'flops' else ''
    lines = [f'# {config} with the widths of its Sequencer2D scaled by {fit["factor"]:.3f}, so',
             f'# that its whole-model {label}{where} are',
             f'# {fit["ratio"]:.3f}x those of {reference} (a budget-matched row of',
             '# tools/analysis/compare_backbones.py; written by its --fit option).',
             f"_base_ = '{base}'",
             f'arch = dict(\n    {arch_text})',
             'model = dict(',
             '    backbone=dict(arch=dict(_delete_=True, **arch)),']
    if 'model.neck.in_channels' in fit['overrides']:
        lines.append(f'    neck=dict(in_channels={fit["overrides"]["model.neck.in_channels"]}),')
    lines[-1] = lines[-1].rstrip(',') + ')'
    return '\n'.join(lines) + '\n'


# ----------------------------------------------------------------- training and testing
def run(cmd, log: str, env: dict) -> float:
    """Run a tool with its output to ``log``; return the wall time, or stop with its end."""
    start = time.perf_counter()
    with open(log, 'w') as f:
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode:
        with open(log) as f:
            tail = f.read()[-3000:]
        sys.exit(f'{" ".join(cmd[:3])} failed (exit {proc.returncode}); the end of {log}:\n'
                 f'{tail}')
    return time.perf_counter() - start


def metrics_of(log: str, task: str) -> dict:
    import re
    with open(log) as f:
        text = f.read()
    found = {}
    for name, pattern in METRICS[task]:
        values = re.findall(pattern, text, re.MULTILINE)
        if not values:
            sys.exit(f'{log}: no {name} in the test output')
        found[name] = float(values[-1]) * (100 if task == 'det' else 1)
    return found


def train_and_test(config: str, seed: int, args, work_dir: str) -> dict:
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='-1', OMP_NUM_THREADS='1',
               MKL_NUM_THREADS='1', PYTHONWARNINGS='ignore', PYTHON=sys.executable)
    options = ['--cfg-options', *args.cfg_options, f'randomness.seed={seed}']
    os.makedirs(work_dir, exist_ok=True)
    seconds = run(['bash', 'tools/dist_train.sh', config, str(args.nproc), '--work-dir',
                   work_dir, *options], osp.join(work_dir, 'train.log'), env)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    run(['bash', 'tools/dist_test.sh', config, checkpoint, str(args.nproc), '--work-dir',
         osp.join(work_dir, 'test'), *options], osp.join(work_dir, 'test.log'), env)
    return dict(train_seconds=seconds, **metrics_of(osp.join(work_dir, 'test.log'), args.task))


# ----------------------------------------------------------------- throughput and memory
def measure_speed(configs: Sequence[str], options: Sequence[str], shape: Sequence[int],
                  batch: int, repeats: int, threads: int,
                  memory_processes: int = 3) -> Dict[str, Dict]:
    """Images/s of the whole network (tensor mode) at batch 1 and ``batch``, medians of
    ``repeats`` steps with every config's steps interleaved, and the peak memory of a
    ``batch`` step (see ``peak_memory``)."""
    import torch
    get_flops = _sibling('get_flops')
    torch.set_num_threads(threads)
    cases = {}
    for config in configs:
        model = get_flops.build_model(config, _options(options))
        for size in (1, batch):
            inputs, samples = get_flops.model_inputs(model, shape, size)
            cases[(config, size)] = (get_flops.TensorMode(model, samples), inputs)
    times = {key: [] for key in cases}
    with torch.no_grad():
        for net, inputs in cases.values():  # warm-up
            net(inputs)
        for _ in range(repeats):
            for key, (net, inputs) in cases.items():
                start = time.perf_counter()
                net(inputs)
                times[key].append(time.perf_counter() - start)
    result = {config: dict(peak_mb=peak_memory(config, options, shape, batch, threads,
                                               memory_processes))
              for config in configs}
    for (config, size), seconds in times.items():
        result[config][f'img_per_s_b{size}' if size == 1 else 'img_per_s_batch'] = \
            size / statistics.median(seconds)
    for config in configs:
        result[config].update(speed_batch=batch, threads=threads)
    return result


def peak_memory(config: str, options: Sequence[str], shape: Sequence[int], batch: int,
                threads: int, processes: int = 3) -> float:
    """MB at the peak of one ``batch`` step of the whole network: the RSS it adds during a
    step after a warm-up step, plus its weights and input; the median of ``processes`` fresh
    processes. Fresh, since in a process that has run other models the allocator reuses (or
    keeps) their freed memory and the growth depends on what ran before; several, since the
    threads' scratch memory varies from one process to the next."""
    code = ('import json, runpy, sys; tool = runpy.run_path(sys.argv[1]); '
            'print(json.dumps(tool["peak_memory_here"](*json.loads(sys.argv[2]))))')
    arguments = json.dumps([config, list(options or []), list(shape), batch, threads])
    peaks = []
    for _ in range(processes):
        proc = subprocess.run([sys.executable, '-c', code, osp.abspath(__file__), arguments],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f'measuring the memory of {config} failed:\n'
                               f'{proc.stderr[-3000:]}')
        peaks.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return statistics.median(peaks)


def peak_memory_here(config: str, options: Sequence[str], shape: Sequence[int], batch: int,
                     threads: int) -> float:
    """``peak_memory`` in this process (meant for a fresh one)."""
    import torch
    get_flops = _sibling('get_flops')
    benchmark = _sibling('benchmark')
    torch.set_num_threads(threads)
    model = get_flops.build_model(config, _options(options))
    inputs, samples = get_flops.model_inputs(model, shape, batch)
    net = get_flops.TensorMode(model, samples)
    with torch.no_grad():
        net(inputs)  # one-time buffers and caches are not the step's
        with benchmark.PeakRSS() as mem:
            net(inputs)
    held = benchmark._tensor_bytes([*net.parameters(), *net.buffers(), inputs])
    return (mem.extra + held) / 2 ** 20


# ----------------------------------------------------------------- aggregation and output
def aggregate(runs: List[Dict], metrics: Sequence[str]) -> Dict[str, Dict]:
    """Per config (in order of appearance): the seeds, and for each metric and the training
    time the mean, the sample standard deviation (nan for one run) and the number of runs."""
    summary = {}
    for r in runs:
        summary.setdefault(r['config'], dict(seeds=[], trained_on=[], values={}))
        entry = summary[r['config']]
        entry['seeds'].append(r.get('seed', 0))
        if r.get('trained_on') and r['trained_on'] not in entry['trained_on']:
            entry['trained_on'].append(r['trained_on'])
        for key in [*metrics, 'train_seconds']:
            entry['values'].setdefault(key, []).append(float(r[key]))
    for entry in summary.values():
        values = entry.pop('values')
        for key, vals in values.items():
            entry[key] = dict(mean=statistics.mean(vals),
                              std=statistics.stdev(vals) if len(vals) > 1 else float('nan'),
                              n=len(vals))
    return summary


def trained_on(machine: Dict) -> str:
    """The machine of one training run, without the load: runs.csv's ``trained_on``."""
    return machine_line({k: v for k, v in machine.items() if k != 'load'})


def _pm(stat: Dict, digits: int = 1) -> str:
    if math.isnan(stat['std']):
        return f'{stat["mean"]:.{digits}f}'
    return f'{stat["mean"]:.{digits}f} ± {stat["std"]:.{digits}f}'


def header_line(machine: Dict, nproc: int, seeds: Sequence[int], reference: str,
                tolerance: float, speed: Optional[Dict] = None,
                trained_on: Sequence[str] = ()) -> str:
    line = f'machine: {machine_line(machine)}'
    if seeds:
        line += (f'; {nproc} training processes; seeds {sorted(set(seeds))} (mean ± sample '
                 'std)')
    if len(set(trained_on)) > 1:  # a comparison continued on other machines
        line += (f'; runs from {len(set(trained_on))} machines or days (runs.csv: trained_on), '
                 'training times compare only within one')
    line += f'; budgets: within {tolerance:.0%} of {name_of(reference)}'
    if speed:
        line += (f'; throughput: whole network, tensor mode, {speed["threads"]} threads, '
                 f'batch 1 and {speed["speed_batch"]}')
    return line


def table(rows: List[Dict], metrics: Sequence[str], machine: Dict, nproc: int,
          reference: str, tolerance: float, header: bool = True) -> str:
    """The markdown table of the summary rows, with (``header``) the machine, torch, date
    and the reference above it; the speed and result columns where there are any."""
    speed = next((r for r in rows if r.get('img_per_s_b1') is not None), None)
    trained = any('train_seconds' in r for r in rows)
    seeds = [s for r in rows for s in r.get('seeds', [])]
    machines = [m for r in rows for m in r.get('trained_on', [])]
    cols = ['config', 'backbone', 'budget', 'params (backbone)', 'FLOPs (input)',
            'FLOPs / ref', 'params / ref']
    if speed:
        batch = speed['speed_batch']
        cols += ['img/s b1', f'img/s b{batch}', f'peak MB b{batch}']
    if trained:
        cols += ['training time', *metrics]
    lines = [header_line(machine, nproc, seeds, reference, tolerance, speed, machines), '']\
        if header else []
    lines += ['| ' + ' | '.join(cols) + ' |', '|' + ' --- |' * len(cols)]
    for r in rows:
        def fmt(key, spec):
            value = r.get(key)
            return '-' if value is None else format(value, spec)
        budget = 'reference' if r['config'] == reference else r['budget']
        cells = [f'{name_of(r["config"])}', r['backbone'], budget,
                 f'{r["params"] / 1e6:.2f}M ({r["backbone_params"] / 1e6:.2f}M)',
                 f'{r["flops"] / 1e9:.1f}G ({r["input"][0]}x{r["input"][1]})',
                 f'{r["flops_ratio"]:.2f}', f'{r["params_ratio"]:.2f}']
        if speed:
            cells += [fmt('img_per_s_b1', '.2f'), fmt('img_per_s_batch', '.2f'),
                      fmt('peak_mb', '.0f')]
        if trained:
            cells += [f'{_pm(r["train_seconds"], 0)} s' if 'train_seconds' in r else '-',
                      *[_pm(r[m]) if m in r else '-' for m in metrics]]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def budget_tables(rows: List[Dict], metrics: Sequence[str], machine: Dict, nproc: int,
                  reference: str, tolerance: float) -> str:
    """One table per budget: the reference and the rows that match its FLOPs, then its
    params (a budget no other row matches gets no table)."""
    parts = []
    for label, key in BUDGETS:
        matched = [r for r in rows if r['config'] == reference
                   or label in r['budget'].split(', ')]
        if len(matched) < 2:
            continue
        parts.append(f'{label}-matched (within {tolerance:.0%} of the {label} of '
                     f'{name_of(reference)}):\n\n' +
                     table(matched, metrics, machine, nproc, reference, tolerance,
                           header=False))
    return '\n\n'.join(parts)


def write_csv(rows: List[Dict], path: str) -> None:
    import csv
    keys = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    with open(path + '.tmp', 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=keys, lineterminator='\n')
        writer.writeheader()
        for row in rows:
            writer.writerow({k: json.dumps(v) if isinstance(v, (list, dict)) else v
                             for k, v in row.items()})
    os.replace(path + '.tmp', path)


def flat_summary(rows: List[Dict], metrics: Sequence[str], machine: Dict) -> List[Dict]:
    """One flat dict per config for summary.csv: costs, speed, and mean/std/n per metric."""
    flat = []
    for r in rows:
        out = {k: v for k, v in r.items() if not isinstance(v, dict)}
        for key in [*metrics, 'train_seconds']:
            if key in r:
                for stat in ('mean', 'std', 'n'):
                    out[f'{key} {stat}'] = r[key][stat]
        out.update(machine)
        flat.append(out)
    return flat


def plot(rows: List[Dict], metric: str, path: str, title: str) -> None:
    """``metric`` against FLOPs and against throughput at the larger batch, one marker per
    backbone, error bars of one standard deviation over the seeds."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    markers = 'osD^vP*Xhp<>'
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    batch = next((r['speed_batch'] for r in rows if r.get('speed_batch')), None)
    for i, r in enumerate(rows):
        if metric not in r:
            continue
        stat = r[metric]
        err = 0 if math.isnan(stat['std']) else stat['std']
        xs = [r['flops'] / 1e9, r.get('img_per_s_batch')]
        for ax, x in zip(axes, xs):
            if x is None:
                continue
            ax.errorbar(x, stat['mean'], yerr=err, marker=markers[i % len(markers)],
                        markersize=8, capsize=4, linestyle='none',
                        label=f'{name_of(r["config"])} ({r["budget"]})')
    axes[0].set_xlabel('FLOPs (G multiply-accumulates) at the test size')
    axes[1].set_xlabel(f'inference throughput, batch {batch} (images / s)')
    for ax in axes:
        ax.set_ylabel(f'{metric} (mean ± std over seeds)')
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(textwrap.fill(title, 170), fontsize=8)
    fig.tight_layout()
    fig.savefig(path + '.tmp.png', format='png', dpi=90)
    plt.close(fig)
    os.replace(path + '.tmp.png', path)


def write_outputs(results: Dict, args, metrics: Sequence[str]) -> List[Dict]:
    """table.md, runs.csv, summary.csv and compare.png in the work dir from ``results``;
    returns the summary rows."""
    summary = aggregate(results['runs'], metrics)
    rows = []
    for config in args.configs:
        row = dict(config=config, **results['sizes'][config])
        if config == args.reference:
            row['budget'] = 'reference'
        row.update(results.get('speed', {}).get(config, {}))
        row.update(summary.get(config, {}))
        rows.append(row)
    text = table(rows, metrics, results['machine'], args.nproc, args.reference, args.tolerance)
    by_budget = budget_tables(rows, metrics, results['machine'], args.nproc, args.reference,
                              args.tolerance)
    if by_budget:
        text += '\n\n' + by_budget
    with open(osp.join(args.work_dir, 'table.md'), 'w') as f:
        f.write(text + '\n')
    write_csv([dict(r, **results['machine']) for r in results['runs']],
              osp.join(args.work_dir, 'runs.csv'))
    write_csv(flat_summary(rows, metrics, results['machine']),
              osp.join(args.work_dir, 'summary.csv'))
    plot(rows, metrics[0], osp.join(args.work_dir, 'compare.png'), text.split('\n')[0])
    print(text)
    print(f'\nwrote {args.work_dir}/table.md, runs.csv, summary.csv, compare.png and '
          'results.json')
    return rows


def _save(results: Dict, path: str) -> None:
    with open(path + '.tmp', 'w') as f:  # whole files only, also after a crash
        json.dump(results, f, indent=1)
    os.replace(path + '.tmp', path)


def _load(path: str) -> Dict:
    results = dict(runs=[], sizes={}, speed={})
    if osp.isfile(path):
        with open(path) as f:
            saved = json.load(f)
        if isinstance(saved, list):  # one run per config, without a seed: seed 0
            saved = dict(runs=[dict(r, seed=r.get('seed', 0)) for r in saved])
        results.update(saved)
    return results


def main(argv=None):
    args = parse_args(argv)
    os.chdir(REPO)
    # building the models to count them: mmseg's notes on 2-class heads and its loss builder
    warnings.filterwarnings('ignore', category=UserWarning, module=r'mmseg\.')
    metrics = [name for name, _ in METRICS[args.task]]
    machine = machine_info()
    needs_data = args.shape is None or not (args.sizes_only or args.fit)
    if needs_data and not osp.isdir(osp.join(args.data_root, 'img_dir')):
        from mmseq.datasets import hela
        print(f'converting the HeLa images into {args.data_root}')
        hela.convert(args.data_root)
    shape = args.shape or test_shape(args.reference, args.cfg_options)
    print(f'test size {shape[0]}x{shape[1]}; reference {args.reference}', flush=True)
    reference = size_of(args.reference, args.cfg_options, shape)

    if args.fit:
        config = args.configs[0]
        name = name_of(config)
        name = name.replace('seq2d', f'seq2d-{args.fit}', 1) if 'seq2d' in name \
            else f'{name}-{args.fit}'
        out = args.fit_out or osp.join('configs', 'demo', 'budget', f'{name}.py')
        print(f'fitting the widths of {config} to {reference[args.fit]:,} {args.fit}')
        fit = fit_budget(config, args.fit, reference[args.fit], shape, args.cfg_options)
        if abs(fit['ratio'] - 1) > args.tolerance:
            raise SystemExit(
                f'no width of {config} comes within {args.tolerance:.0%} of the reference: the '
                f'closest, widths {fit["arch"]["embed_dims"]}, is {fit["ratio"]:.3f}x (the '
                'neck and the heads weigh too much, or too little, beside the backbone); no '
                'config written')
        os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
        with open(out, 'w') as f:
            f.write(fit_config_text(config, out, args.fit, fit, args.reference, shape))
        print(f'widths {fit["arch"]["embed_dims"]}, hidden {fit["arch"]["hidden_sizes"]}: '
              f'{fit["ratio"]:.3f}x the reference; wrote {out}')
        return fit

    results_file = osp.join(args.work_dir, 'results.json')
    results = _load(results_file) if not args.sizes_only else dict(runs=[], sizes={}, speed={})
    results['machine'] = machine
    for config in args.configs:
        size = reference if config == args.reference else \
            size_of(config, args.cfg_options, shape)
        results['sizes'][config] = dict(size, **budget_of(size, reference, args.tolerance))
    if args.sizes_only:
        rows = [dict(config=c, **results['sizes'][c]) for c in args.configs]
        print(table(rows, metrics, machine, args.nproc, args.reference, args.tolerance))
        return rows

    os.makedirs(args.work_dir, exist_ok=True)
    if args.rerun:
        results['runs'] = [r for r in results['runs'] if r['config'] not in args.configs]
    done = {(r['config'], r['seed']) for r in results['runs']}
    # seed by seed, so that a comparison stopped early still has every config
    todo = [(c, s) for s in range(args.seeds) for c in args.configs]
    for k, (config, seed) in enumerate(todo):
        name = name_of(config)
        work_dir = osp.join(args.work_dir, name, f'seed{seed}')
        if (config, seed) in done:
            print(f'[{k + 1}/{len(todo)}] {name} seed {seed}: in {results_file} (--rerun to '
                  'train again)')
            continue
        print(f'[{k + 1}/{len(todo)}] {name} seed {seed}: training and testing with '
              f'{args.nproc} processes (logs: {work_dir}/)', flush=True)
        result = dict(config=config, seed=seed, **train_and_test(config, seed, args, work_dir),
                      trained_on=trained_on(machine_info()))
        results['runs'].append(result)
        _save(results, results_file)
        print(f'      trained in {result["train_seconds"]:.0f} s; ' + ', '.join(
            f'{n} {result[n]:.1f}' for n in metrics), flush=True)
    if not args.no_speed:
        print(f'throughput and memory at {shape[0]}x{shape[1]}, batch 1 and '
              f'{args.speed_batch}, {args.threads} threads', flush=True)
        results['machine'] = machine_info()  # the load while timing
        results['speed'] = measure_speed(args.configs, args.cfg_options, shape,
                                         args.speed_batch, args.speed_repeats, args.threads)
    _save(results, results_file)
    print()
    return write_outputs(results, args, metrics)


if __name__ == '__main__':
    main()
