"""tools/analysis/benchmark.py's resolution sweep (Fig. 3 bottom) and its bookkeeping: CSV rows,
the recurrence that ran, out-of-memory marking and the PNG; in-process, tiny models."""
import csv
import datetime
import math

import pytest
import torch

from helpers import load_tool
from mmseq.models.layers import lstm2d_ext

benchmark = load_tool('tools/analysis/benchmark.py')


def test_sweep_rows_oom_and_plot(tmp_path):
    # a time budget of 0 s: the first repeat only
    csv_path, _ = benchmark.main([
        '--models', 'tiny-fused', '--settings', '32:2', '--modes', 'infer', '--repeats', '3',
        '--time-budget', '0', '--threads', '1', '--out-dir', str(tmp_path / 'budget')])
    with open(csv_path) as f:
        assert [int(r['repeats']) for r in csv.DictReader(f)] == [1]
    # 1024 px: the input batch alone (2 x 3 x 1024^2 float32 = 24 MiB) passes the 10 MiB cap,
    # 2048 px is then not tried; 32 px needs far less than the cap
    csv_path, png_path = benchmark.main([
        '--models', 'tiny-fused', 'tiny-reference', '--sweep', '32', '1024',
        '2048', '--batch', '2', '--modes', 'infer', '--repeats', '2', '--threads', '1',
        '--max-memory-gb', str(10 / 1024), '--out-dir', str(tmp_path)])
    assert csv_path.endswith('sweep.csv') and png_path.endswith('sweep.png')
    with open(csv_path) as f:
        rows = {(r['model'], int(r['size'])): r for r in csv.DictReader(f)}
    models = ('tiny-fused', 'tiny-reference')
    assert set(rows) == {(m, s) for m in models for s in (32, 1024, 2048)}
    for m in models:
        small, big, bigger = rows[(m, 32)], rows[(m, 1024)], rows[(m, 2048)]
        assert small['status'] == 'ok', small
        assert int(small['repeats']) == 2 and small['batch'] == '2'
        assert small['mode'] == 'infer' and small['amp'] == 'off' and small['device'] == 'cpu'
        for key in ('step_s', 'img_per_s', 'peak_mb'):
            assert math.isfinite(float(small[key])) and float(small[key]) > 0, (key, small)
        # peak_mb holds the input batch and the weights beside the step's extra memory
        assert float(small['peak_mb']) >= float(small['peak_extra_mb'])
        assert big['status'] == 'oom' and '--max-memory-gb' in big['detail'], big
        assert math.isnan(float(big['step_s']))
        assert bigger['status'] == 'oom' and 'not run' in bigger['detail'], bigger
        assert int(bigger['repeats']) == 0
    # what really ran, read from the modules
    fused = 'fused C++' if lstm2d_ext.load() is not None else 'nn.LSTM CPU fp32'
    assert rows[('tiny-fused', 32)]['recurrence'].startswith(fused)
    assert rows[('tiny-reference', 32)]['recurrence'] == 'nn.LSTM CPU fp32'
    # the columns .dev_scripts/compare_checkouts.py reads
    assert {'model', 'mode', 'size', 'batch', 'step_s', 'peak_extra_mb'} <= set(
        next(iter(rows.values())))
    with open(png_path, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    # every row says where and when: CPU model, cores, torch, date
    machine = benchmark.machine_info()
    for row in rows.values():
        assert row['cpu'] == machine['cpu'] and row['cpu']
        assert row['cores'] == machine['cores'] and row['cores'].split('/')[0].isdigit()
        assert row['torch'] == torch.__version__
        assert row['date'] == datetime.date.today().isoformat()


def test_quick_preset_and_machine_line(capsys):
    args = benchmark.parse_args(['--quick'])
    assert args.models == ['seq2d-s-fused', 'timm-seq2d-s', 'resnet-50']
    assert benchmark.parse_settings(args) == [(224, 1), (224, 8)]
    assert args.modes == ['infer'] and args.repeats == 3 and args.time_budget == 120
    model = benchmark.model_factories()['resnet-50']()
    assert sum(p.numel() for p in model.parameters()) == 25_557_032  # mmpretrain's ResNet-50
    with pytest.raises(SystemExit):
        benchmark.main(['--help'])
    assert 'time budget: about 2 minutes on 2 cores' in ' '.join(capsys.readouterr().out.split())
    line = benchmark.machine_line(benchmark.machine_info())
    with open('/proc/cpuinfo') as f:
        names = [ln.split(':', 1)[1].strip() for ln in f if ln.startswith('model name')]
    assert f'torch {torch.__version__}' in line
    if names:  # x86 Linux; elsewhere lscpu's or Python's name
        assert names[0] in line


def test_recurrence_labels_and_oom_classification():
    model = benchmark.model_factories()['tiny-fused']()
    case = benchmark.Case(model, 'train', 32, 2, 'cpu', amp='bf16')
    case.probe_step()
    # CPU autocast: the fused mixer hands over to nn.LSTM, in bf16 where this CPU runs it
    assert case.recurrence.startswith('nn.LSTM CPU '), case.recurrence
    convnet = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.AdaptiveAvgPool2d(1),
                                  torch.nn.Flatten(), torch.nn.Linear(8, 10))
    case = benchmark.Case(convnet, 'train', 32, 2, 'cpu')
    case.probe_step()
    assert case.recurrence == 'none'

    with pytest.raises(RuntimeError) as e:
        torch.empty(2 ** 60, dtype=torch.float32)  # 4 EiB: no allocator can
    assert benchmark.is_out_of_memory(e.value)
    assert benchmark.is_out_of_memory(MemoryError())
    assert not benchmark.is_out_of_memory(RuntimeError('shape mismatch'))
    assert not benchmark.is_out_of_memory(ValueError('out of memory'))


def test_sweep_arguments():
    args = benchmark.parse_args(['--sweep'])
    assert benchmark.parse_settings(args) == [(s, 16) for s in range(224, 2241, 224)]
    assert args.models == benchmark.SWEEP_MODELS
    args = benchmark.parse_args(['--sweep', '448', '224', '--batch', '4', '--models', 'tiny-fused'])
    assert benchmark.parse_settings(args) == [(224, 4), (448, 4)]
    for bad in (['--sweep', '224', '--settings', '224:8'], ['--amp', 'fp16'],
                ['--warmup', '0']):
        with pytest.raises(SystemExit):
            benchmark.parse_args(bad)


def test_mmpretrain_models_build_under_another_default_scope():
    """A process that has set mmseg's (or mmdet's) default scope still gets mmpretrain's
    ImageClassifier."""
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')
    model = benchmark.model_factories()['resnet-50']()
    assert type(model.model).__name__ == 'ImageClassifier'
