#!/usr/bin/env python
"""Train and test backbones of similar size on one real task with one recipe, and print one
table: parameters, FLOPs at the test size, training time on this machine, and the held-out
result.

    python tools/analysis/compare_backbones.py                 # Semantic FPN on HeLa nuclei
    python tools/analysis/compare_backbones.py --task det      # RetinaNet on HeLa nuclei
    python tools/analysis/compare_backbones.py CONFIG ... [--nproc 2] [--work-dir DIR]

The default configs are the demo's (configs/demo/, a small Sequencer2D from scratch) and its
copies with a ResNet-18 of half width, a small ConvNeXt and a small Swin Transformer
(configs/demo/backbones/): same data, neck, head, schedule and optimiser. Each is trained with
tools/dist_train.sh and tested with tools/dist_test.sh on the held-out frames, one after the
other in this run, so the training times compare on this machine. FLOPs are mmengine's count
(with mmseq's LSTM handles) of one test image as the model sees it (padded). Results are kept
in WORK_DIR/results.json as each model finishes; a rerun skips the models found there
(``--rerun`` trains them again).
"""
import argparse
import datetime
import json
import os
import os.path as osp
import platform
import re
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULTS = {
    'seg': ['configs/demo/sem_fpn_seq2d_hela_cpu.py',
            'configs/demo/backbones/sem_fpn_r18-half_hela_cpu.py',
            'configs/demo/backbones/sem_fpn_convnext-mini_hela_cpu.py',
            'configs/demo/backbones/sem_fpn_swin-mini_hela_cpu.py'],
    'det': ['configs/demo/retinanet_seq2d_hela_cpu.py',
            'configs/demo/backbones/retinanet_r18-half_hela_cpu.py',
            'configs/demo/backbones/retinanet_convnext-mini_hela_cpu.py',
            'configs/demo/backbones/retinanet_swin-mini_hela_cpu.py'],
}
# What the test tool prints, per task: (column, pattern)
METRICS = {
    'seg': [('nucleus IoU', r'^\|\s+nucleus\s+\|\s+([0-9.]+)'), ('mIoU', r'mIoU: ([0-9.]+)')],
    'det': [('AP', r'bbox_mAP: ([0-9.-]+)'), ('AP50', r'bbox_mAP_50: ([0-9.-]+)')],
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Train and test backbones of similar size on one real task with one '
        'recipe; print params, FLOPs, training time and the held-out result')
    parser.add_argument('configs', nargs='*', help='configs to compare (default: the demo '
                        "task's, see --task)")
    parser.add_argument('--task', choices=sorted(DEFAULTS), default='seg',
                        help='default configs: seg = Semantic FPN, det = RetinaNet (HeLa)')
    parser.add_argument('--nproc', type=int, default=2, help='training/testing processes')
    parser.add_argument('--work-dir', default='work_dirs/compare_backbones',
                        help='logs, checkpoints and results.json')
    parser.add_argument('--data-root', default='data/hela',
                        help='the HeLa data (converted from the cache when absent)')
    parser.add_argument('--rerun', action='store_true',
                        help='train again the models already in results.json')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='overrides for every config (e.g. train_cfg.max_iters=50)')
    args = parser.parse_args(argv)
    args.configs = args.configs or DEFAULTS[args.task]
    for config in args.configs:
        if not osp.isfile(osp.join(REPO, config)):
            parser.error(f'no such config: {config}')
    if args.nproc < 1:
        parser.error('--nproc must be at least 1')
    return args


def cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def size_of(config: str, options: list) -> dict:
    """Parameters (whole model, backbone) and FLOPs of the first test image, padded as the
    data preprocessor pads it."""
    import torch
    from mmengine.analysis import FlopAnalyzer
    from mmengine.config import DictAction
    from mmengine.registry import DATASETS, init_default_scope

    from mmseq.apis import init_model
    namespace = argparse.Namespace()
    DictAction(option_strings=[], dest='o')(None, namespace, options)
    model = init_model(config, device='cpu', cfg_options=namespace.o or None)
    init_default_scope(model.cfg.get('default_scope'))
    dataset = DATASETS.build(model.cfg.test_dataloader.dataset)
    with torch.no_grad():
        batch = model.data_preprocessor(
            {k: [v] for k, v in dataset[0].items()}, False)
    inputs = batch['inputs']
    flops = FlopAnalyzer(model, inputs=(inputs, )).unsupported_ops_warnings(False) \
        .uncalled_modules_warnings(False).total()
    return dict(params=sum(p.numel() for p in model.parameters()),
                backbone_params=sum(p.numel() for p in model.backbone.parameters()),
                backbone=model.cfg.model.backbone.type,
                flops=flops, input=list(inputs.shape[-2:]))


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
    with open(log) as f:
        text = f.read()
    found = {}
    for name, pattern in METRICS[task]:
        values = re.findall(pattern, text, re.MULTILINE)
        if not values:
            sys.exit(f'{log}: no {name} in the test output')
        found[name] = float(values[-1]) * (100 if task == 'det' else 1)
    return found


def train_and_test(config: str, args, work_dir: str) -> dict:
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='-1', OMP_NUM_THREADS='1',
               MKL_NUM_THREADS='1', PYTHONWARNINGS='ignore', PYTHON=sys.executable)
    options = ['--cfg-options', *args.cfg_options] if args.cfg_options else []
    os.makedirs(work_dir, exist_ok=True)
    seconds = run(['bash', 'tools/dist_train.sh', config, str(args.nproc), '--work-dir',
                   work_dir, *options], osp.join(work_dir, 'train.log'), env)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    run(['bash', 'tools/dist_test.sh', config, checkpoint, str(args.nproc), '--work-dir',
         osp.join(work_dir, 'test'), *options], osp.join(work_dir, 'test.log'), env)
    return dict(train_seconds=seconds, **metrics_of(osp.join(work_dir, 'test.log'), args.task))


def table(results: list, task: str) -> str:
    names = [name for name, _ in METRICS[task]]
    lines = ['| config | backbone | params (backbone) | FLOPs (input) | training time | '
             + ' | '.join(names) + ' |',
             '| --- | --- | --- | --- | --- | ' + ' | '.join('---' for _ in names) + ' |']
    for r in results:
        lines.append(
            f'| {osp.basename(r["config"])} | {r["backbone"]} | {r["params"] / 1e6:.2f}M '
            f'({r["backbone_params"] / 1e6:.2f}M) | {r["flops"] / 1e9:.1f}G '
            f'({r["input"][0]}x{r["input"][1]}) | {r["train_seconds"]:.0f} s | '
            + ' | '.join(f'{r[n]:.1f}' for n in names) + ' |')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    os.chdir(REPO)
    if not osp.isdir(osp.join(args.data_root, 'img_dir')):
        from mmseq.datasets import hela
        print(f'converting the HeLa images into {args.data_root}')
        hela.convert(args.data_root)
    os.makedirs(args.work_dir, exist_ok=True)
    results_file = osp.join(args.work_dir, 'results.json')
    done = {}
    if osp.isfile(results_file) and not args.rerun:
        with open(results_file) as f:
            done = {r['config']: r for r in json.load(f)}
    results = []
    for k, config in enumerate(args.configs):
        name = osp.splitext(osp.basename(config))[0]
        if config in done:
            print(f'[{k + 1}/{len(args.configs)}] {name}: in {results_file} (--rerun to train '
                  'again)')
            results.append(done[config])
            continue
        print(f'[{k + 1}/{len(args.configs)}] {name}: training and testing with {args.nproc} '
              f'processes (logs: {args.work_dir}/{name}/)', flush=True)
        result = dict(config=config, **size_of(config, args.cfg_options))
        result.update(train_and_test(config, args, osp.join(args.work_dir, name)))
        results.append(result)
        done[config] = result
        with open(results_file + '.tmp', 'w') as f:  # whole files only, also after a crash
            json.dump(list(done.values()), f, indent=1)
        os.replace(results_file + '.tmp', results_file)
        print(f'      trained in {result["train_seconds"]:.0f} s; ' + ', '.join(
            f'{n} {result[n]:.1f}' for n, _ in METRICS[args.task]), flush=True)
    print()
    print(f'{cpu_model()}, {os.cpu_count()} cores, {args.nproc} processes; '
          f'{datetime.date.today().isoformat()}')
    print(table(results, args.task))


if __name__ == '__main__':
    main()
