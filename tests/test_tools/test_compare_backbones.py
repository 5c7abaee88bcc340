"""tools/analysis/compare_backbones.py without training: the mean and standard deviation over
seeds, the table's header (machine, torch, date), the CSV files and the PNG plot, the budget
ratios on tiny configs, and fitting a Sequencer2D's widths to a budget."""
import csv
import datetime
import json
import math
import os.path as osp
import statistics
from argparse import Namespace

import torch
from mmengine.config import Config

from helpers import REPO, config_file, load_tool

compare = load_tool('tools/analysis/compare_backbones.py')
benchmark = load_tool('tools/analysis/benchmark.py')
get_flops = load_tool('tools/analysis/get_flops.py')
SEG_METRICS = ['nucleus IoU', 'mIoU']


def _runs():
    # config a: three seeds; config b: one
    runs = [dict(config='a.py', seed=s, train_seconds=t, **{'nucleus IoU': v, 'mIoU': v + 5})
            for s, v, t in ((0, 80.0, 100.0), (1, 82.0, 110.0), (2, 84.0, 120.0))]
    runs.append(dict(config='b.py', seed=0, train_seconds=90.0,
                     **{'nucleus IoU': 70.0, 'mIoU': 75.0}))
    return runs


def test_aggregate_mean_and_sample_std():
    summary = compare.aggregate(_runs(), SEG_METRICS)
    assert list(summary) == ['a.py', 'b.py']
    a, b = summary['a.py'], summary['b.py']
    assert a['seeds'] == [0, 1, 2] and b['seeds'] == [0]
    assert a['nucleus IoU'] == dict(mean=82.0, std=2.0, n=3)  # sample std of 80, 82, 84
    assert a['mIoU']['mean'] == 87.0 and a['mIoU']['std'] == 2.0
    assert a['train_seconds']['mean'] == 110.0
    assert a['train_seconds']['std'] == statistics.stdev([100.0, 110.0, 120.0])
    assert b['nucleus IoU']['n'] == 1 and math.isnan(b['nucleus IoU']['std'])
    assert compare._pm(a['nucleus IoU']) == '82.0 ± 2.0'
    assert compare._pm(b['nucleus IoU']) == '70.0'


def test_budget_marks():
    reference = dict(flops=100e9, params=6e6)
    both = compare.budget_of(dict(flops=95e9, params=6.3e6), reference, 0.1)
    assert both['budget'] == 'FLOPs, params'
    assert math.isclose(both['flops_ratio'], 0.95) and math.isclose(both['params_ratio'], 1.05)
    assert compare.budget_of(dict(flops=50e9, params=6.5e6), reference, 0.1)['budget'] == \
        'params'
    assert compare.budget_of(dict(flops=111e9, params=3e6), reference, 0.1)['budget'] == '-'


def test_outputs_table_csv_and_plot(tmp_path):
    machine = benchmark.machine_info()
    sizes = {c: dict(params=p, backbone_params=p // 4, backbone='mmseq.Sequencer2D',
                     flops=f, backbone_flops=f // 3, input=[700, 1106], shape=[700, 1100],
                     **compare.budget_of(dict(flops=f, params=p), dict(flops=60e9, params=6e6),
                                         0.1))
             for c, p, f in (('a.py', 6_000_000, 60e9), ('b.py', 5_000_000, 33e9))}
    speed = {c: dict(img_per_s_b1=v, img_per_s_batch=2 * v, peak_mb=300.0, speed_batch=4,
                     threads=2) for c, v in (('a.py', 1.5), ('b.py', 3.0))}
    results = dict(machine=machine, runs=_runs(), sizes=sizes, speed=speed)
    args = Namespace(configs=['a.py', 'b.py'], nproc=2, reference='a.py', tolerance=0.1,
                     work_dir=str(tmp_path))
    rows = compare.write_outputs(results, args, SEG_METRICS)
    assert [r['config'] for r in rows] == ['a.py', 'b.py']

    text = (tmp_path / 'table.md').read_text()
    header = text.splitlines()[0]
    for fact in (machine['cpu'], f'{machine["cores"]} cores', f'torch {torch.__version__}',
                 datetime.date.today().isoformat(), 'seeds [0, 1, 2]', 'batch 1 and 4'):
        assert fact in header, (fact, header)
    assert machine['cpu'] and machine['cpu'] != 'unknown'
    lines = {line.split(' | ')[0].strip('| '): line for line in text.splitlines()
             if line.startswith('| a') or line.startswith('| b')}
    assert '| reference |' in lines['a'] and '82.0 ± 2.0' in lines['a']
    assert '| 1.50 | 3.00 | 300 |' in lines['a']
    assert '| - |' in lines['b'] and '| 0.55 | 0.83 |' in lines['b'] and '| 70.0 |' in lines['b']

    with open(tmp_path / 'runs.csv') as f:
        runs = list(csv.DictReader(f))
    assert [(r['config'], int(r['seed'])) for r in runs] == [
        ('a.py', 0), ('a.py', 1), ('a.py', 2), ('b.py', 0)]
    assert all(r['torch'] == torch.__version__ and r['cpu'] == machine['cpu'] for r in runs)
    with open(tmp_path / 'summary.csv') as f:
        summary = {r['config']: r for r in csv.DictReader(f)}
    assert float(summary['a.py']['nucleus IoU mean']) == 82.0
    assert float(summary['a.py']['nucleus IoU std']) == 2.0
    assert int(summary['a.py']['nucleus IoU n']) == 3
    assert float(summary['b.py']['img_per_s_batch']) == 6.0
    assert summary['b.py']['date'] == datetime.date.today().isoformat()

    png = tmp_path / 'compare.png'
    assert png.stat().st_size > 5000
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_one_table_per_matched_budget():
    reference = dict(flops=60e9, params=6e6)
    rows = [dict(config=c, backbone='x', params=p, backbone_params=p, flops=f,
                 input=[700, 1106], **compare.budget_of(dict(flops=f, params=p), reference, 0.1))
            for c, p, f in (('ref.py', 6e6, 60e9), ('small.py', 3e6, 30e9),
                            ('same_params.py', 6.3e6, 40e9), ('same_flops.py', 12e6, 62e9),
                            ('both.py', 5.9e6, 58e9))]
    text = compare.budget_tables(rows, SEG_METRICS, benchmark.machine_info(), 2, 'ref.py', 0.1)
    flops_part, params_part = text.split('params-matched')
    assert flops_part.startswith('FLOPs-matched (within 10% of the FLOPs of ref)')

    def names(part):
        return [line.split(' | ')[0].strip('| ') for line in part.splitlines()
                if line.startswith('| ') and line.split(' | ')[0] not in ('| config', '| ---')]
    assert names(flops_part) == ['ref', 'same_flops', 'both']
    assert names(params_part) == ['ref', 'same_params', 'both']
    assert '| ref | x | reference |' in flops_part
    # a budget only the reference meets gets no table
    assert compare.budget_tables(rows[:2], SEG_METRICS, benchmark.machine_info(), 2, 'ref.py',
                                 0.1) == ''


def test_header_says_when_runs_come_from_several_machines():
    machine = benchmark.machine_info()
    here = compare.trained_on(machine)
    assert machine['cpu'] in here and machine['date'] in here
    runs = _runs()
    for r in runs:
        r['trained_on'] = here
    summary = compare.aggregate(runs, SEG_METRICS)
    assert summary['a.py']['trained_on'] == [here]
    rows = [dict(config=c, backbone='x', params=6e6, backbone_params=1e6, flops=60e9,
                 input=[700, 1106], flops_ratio=1.0, params_ratio=1.0, budget='-', **summary[c])
            for c in summary]
    one = compare.table(rows, SEG_METRICS, machine, 2, 'a.py', 0.1).splitlines()[0]
    assert 'machines' not in one
    runs[1]['trained_on'] = 'Other CPU, 8/8 cores, torch 2.0, 2020-01-01'
    summary = compare.aggregate(runs, SEG_METRICS)
    assert summary['a.py']['trained_on'] == [here, runs[1]['trained_on']]
    rows = [dict(row, trained_on=summary[row['config']]['trained_on']) for row in rows]
    two = compare.table(rows, SEG_METRICS, machine, 2, 'a.py', 0.1).splitlines()[0]
    assert 'runs from 2 machines or days (runs.csv: trained_on)' in two


def test_results_of_the_one_seed_format_load_as_seed_0(tmp_path):
    path = tmp_path / 'results.json'
    path.write_text(json.dumps([dict(config='a.py', train_seconds=1.0, mIoU=50.0)]))
    assert compare._load(str(path))['runs'] == [
        dict(config='a.py', train_seconds=1.0, mIoU=50.0, seed=0)]


def test_budget_ratio_of_tiny_configs():
    """size_of counts what get_flops counts for the whole model; the ratio is of those."""
    shape = [56, 84]
    sem_fpn, upernet = config_file('tiny_sem_fpn_ade20k.py'), config_file('tiny_upernet_ade20k.py')
    a = compare.size_of(sem_fpn, [], shape)
    b = compare.size_of(upernet, [], shape)
    model = get_flops.build_model(sem_fpn)
    assert a['params'] == sum(p.numel() for p in model.parameters())
    assert a['backbone_params'] == sum(p.numel() for p in model.backbone.parameters())
    assert a['flops'] > a['backbone_flops'] > 0 and b['flops'] > a['flops']
    assert a['input'] == [56, 84]  # already a multiple of 14
    budget = compare.budget_of(a, b, 0.1)
    assert budget['flops_ratio'] == a['flops'] / b['flops']
    assert budget['params_ratio'] == a['params'] / b['params']


def test_fit_params_writes_a_config_that_matches(tmp_path):
    sem_fpn, upernet = config_file('tiny_sem_fpn_ade20k.py'), config_file('tiny_upernet_ade20k.py')
    target = sum(p.numel() for p in get_flops.build_model(upernet).parameters())
    # widths in steps of 4: the tiny model's are 16 and 32
    fit = compare.fit_budget(sem_fpn, 'params', target, [56, 56], [], multiple=4)
    assert abs(fit['ratio'] - 1) < 0.1, fit
    arch = fit['arch']
    assert all(c % 4 == 0 for c in arch['embed_dims']) and arch['embed_dims'] != [16, 32, 32, 32]
    out = tmp_path / 'fitted.py'
    out.write_text(compare.fit_config_text(sem_fpn, str(out), 'params', fit, upernet, [56, 56]))
    cfg = Config.fromfile(str(out))
    assert cfg.model.backbone.arch.embed_dims == arch['embed_dims']
    assert cfg.model.neck.in_channels == arch['embed_dims']  # the neck takes all 4 stages
    model = get_flops.build_model(str(out))
    assert sum(p.numel() for p in model.parameters()) == fit['value']


def test_scaled_arch_keeps_the_hidden_proportion():
    arch = dict(layers=[2, 2, 2, 2], patch_sizes=[7, 2, 1, 1], embed_dims=[64, 128, 128, 128],
                hidden_sizes=[16, 32, 32, 32], mlp_ratios=[3, 3, 3, 3])
    wide = compare.scaled_arch(arch, 1.5)
    assert wide['embed_dims'] == [96, 192, 192, 192]
    assert wide['hidden_sizes'] == [24, 48, 48, 48]
    assert wide['layers'] == arch['layers'] and arch['embed_dims'][0] == 64


def test_default_configs_exist_and_parse():
    for task in ('seg', 'det'):
        args = compare.parse_args(['--task', task, '--seeds', '3'])
        assert args.seeds == 3 and args.reference in args.configs
        assert args.work_dir.endswith(task)
        assert all(osp.isfile(osp.join(REPO, config)) for config in args.configs)
        budget = [c for c in args.configs if '/budget/' in c]
        assert len(budget) == (2 if task == 'seg' else 1)
        for config in budget:  # a Sequencer2D arch and the neck's widths to match
            cfg = Config.fromfile(osp.join(REPO, config))
            indices = cfg.model.backbone.get('out_indices', (0, 1, 2, 3))
            dims = cfg.model.backbone.arch.embed_dims
            assert cfg.model.neck.in_channels == [dims[i] for i in indices]


def test_speed_and_memory_of_a_tiny_config():
    config = config_file('tiny_sem_fpn_ade20k.py')
    speed = compare.measure_speed([config], [], [56, 84], batch=2, repeats=1, threads=1,
                                  memory_processes=1)[config]
    assert speed['img_per_s_b1'] > 0 and speed['img_per_s_batch'] > 0
    assert speed['speed_batch'] == 2 and speed['threads'] == 1 and speed['peak_mb'] > 0


def test_peak_memory_holds_weights_input_and_output():
    """The peak of a step, in a fresh process, is at least what must exist at its end: the
    weights, the input batch and the output the step allocates."""
    config, shape, batch = config_file('tiny_sem_fpn_ade20k.py'), [448, 448], 8
    model = get_flops.build_model(config).eval()
    inputs, samples = get_flops.model_inputs(model, shape, batch)
    net = get_flops.TensorMode(model, samples)
    with torch.no_grad():
        output = net(inputs)
    floor = benchmark._tensor_bytes([*net.parameters(), *net.buffers(), inputs, output])
    assert output.numel() * 4 > 10 * 2 ** 20  # a size the RSS cannot hide
    peak = compare.peak_memory(config, [], shape, batch, threads=1, processes=1)
    assert floor / 2 ** 20 <= peak < 20 * floor / 2 ** 20, (floor / 2 ** 20, peak)
