"""tools/analysis/get_flops.py and tools/analysis/benchmark.py."""
import csv
import math
import os
import sys

import pytest

from helpers import REPO, TINY_ARCH, load_tool, run, write_config
from mmseq.models.backbones.sequencer2d import Sequencer2D

# Every stage a little different (depth, width, hidden size, MLP ratio), so that a hand count
# with a stage index mixed up differs from the counter's.
UNEVEN_ARCH = dict(TINY_ARCH, layers=[1, 2, 1, 1], embed_dims=[16, 32, 32, 24],
                   hidden_sizes=[4, 8, 8, 6], mlp_ratios=[2, 2, 3, 2])
get_flops = load_tool('tools/analysis/get_flops.py')


def _hand_count(arch, size, gates=4, hidden_ratio=1, cell_ops=18):
    """MACs of Sequencer2D written out from the architecture, independently of the hooks."""
    macs = 0
    res = size // arch['patch_sizes'][0]
    macs += res * res * arch['embed_dims'][0] * 3 * arch['patch_sizes'][0] ** 2
    prev = arch['embed_dims'][0]
    for i, depth in enumerate(arch['layers']):
        C = arch['embed_dims'][i]
        if i > 0:
            p = arch['patch_sizes'][i]
            res //= p
            macs += res * res * C * prev * p * p
        D = int(round(arch['hidden_sizes'][i] * hidden_ratio))
        hidden = int(arch['mlp_ratios'][i] * C)
        tokens = res * res
        per_block = (4 * gates * D * (C + D) + 4 * cell_ops * D  # 2 bidirectional RNNs
                     + 4 * D * C  # fc
                     + 2 * C * hidden)  # MLP
        macs += depth * tokens * per_block
        prev = C
    return macs


@pytest.mark.parametrize('impl', ['reference', 'fused'])
@pytest.mark.parametrize('rnn_type,gates,cell_ops', [('lstm', 4, 18), ('gru', 3, 13),
                                                     ('rnn', 1, 3)])
def test_counter_matches_hand_count(impl, rnn_type, gates, cell_ops):
    if impl == 'fused' and rnn_type != 'lstm':
        pytest.skip('fused is LSTM only')
    model = Sequencer2D(UNEVEN_ARCH, rnn_type=rnn_type, mixer_impl=impl)
    result = get_flops.analyse(model, (56, 56))
    assert result['macs'] == _hand_count(UNEVEN_ARCH, 56, gates, cell_ops=cell_ops)
    products_only = get_flops.analyse(model, (56, 56), cell_ops=False)
    assert products_only['macs'] == _hand_count(UNEVEN_ARCH, 56, gates, cell_ops=0)
    assert result['params'] == sum(p.numel() for p in model.parameters())
    with_head = get_flops.analyse(model, (56, 56), num_classes=10)
    assert with_head['macs'] - result['macs'] == 24 * 10


def test_timm_lstm_counted_like_ours():
    timm = pytest.importorskip('timm')
    model = timm.create_model('sequencer2d_s', num_classes=10, **TINY_ARCH)
    ours = Sequencer2D(TINY_ARCH)
    macs_timm = get_flops.count_macs(model, (56, 56)).total
    assert macs_timm == get_flops.analyse(ours, (56, 56), num_classes=10)['macs']


def test_paper_table1_and_2(capsys):
    """Table 1 (S/M/L), Table 2d (2x hidden), Table 2e (GRU, RNN), rounded as the paper does
    (to 0.1G MACs and 1M parameters); 2x hidden is 13.85G against 13.9G."""
    paper = {('s', 'lstm', 1.0): (8.4, 28), ('m', 'lstm', 1.0): (11.1, 38),
             ('l', 'lstm', 1.0): (16.6, 54), ('s', 'lstm', 2.0): (13.9, 45),
             ('s', 'gru', 1.0): (7.5, 25), ('s', 'rnn', 1.0): (5.8, 19)}
    for (arch, rnn_type, ratio), (gflops, mparams) in paper.items():
        results = get_flops.main(['--arch', arch, '--rnn-type', rnn_type,
                                  '--hidden-ratio', str(ratio), '--mixer-impl', 'reference'])
        macs, params = results[0]['macs'] / 1e9, results[0]['params'] / 1e6
        assert round(params) == mparams, (arch, rnn_type, ratio, params)
        tol = 0.06 if ratio == 2.0 else 0.05
        assert abs(macs - gflops) <= tol, (arch, rnn_type, ratio, macs)
    assert 'FLOPs(MACs) 8.37G' in capsys.readouterr().out


def test_config_file_and_speed(tmp_path, capsys):
    cfg = tmp_path / 'tiny.py'
    write_config(cfg, dict(
        custom_imports=dict(imports=['mmseq.models'], allow_failed_imports=False),
        model=dict(type='ImageClassifier', backbone=dict(
            type='mmseq.Sequencer2D', arch=UNEVEN_ARCH,
            init_cfg=dict(type='Pretrained', checkpoint='nowhere.pth')))))
    results = get_flops.main([str(cfg), '--backbone-only', '--shape', '56', '70', '--speed',
                              '--batch-size', '2'])
    model = Sequencer2D(UNEVEN_ARCH)
    assert results[0]['macs'] == get_flops.analyse(model, (56, 70))['macs']
    assert results[0]['flops_per_s'] > 0 and results[0]['gemm_flops_per_s'] > 0
    assert 'of the GEMM rate' in capsys.readouterr().out
    with pytest.raises(SystemExit):
        get_flops.main([])
    write_config(tmp_path / 'nobackbone.py', dict(model=dict(type='X')))
    with pytest.raises(ValueError, match='no model.backbone'):
        get_flops.main([str(tmp_path / 'nobackbone.py'), '--backbone-only'])


@pytest.mark.slow
def test_benchmark_tiny_run(tmp_path):
    out = tmp_path / 'bench'
    cmd = [sys.executable, os.path.join(REPO, 'tools', 'analysis', 'benchmark.py'),
           '--models', 'tiny-reference', 'tiny-fused', '--sizes', '56', '--batch-sizes', '2',
           '--repeats', '2', '--modes', 'infer', 'train', '--threads', '1',
           '--out-dir', str(out)]
    output = run(cmd)
    with open(out / 'benchmark.csv') as f:
        rows = list(csv.DictReader(f))
    assert {(r['model'], r['mode']) for r in rows} == {
        (m, mode) for m in ('tiny-reference', 'tiny-fused') for mode in ('infer', 'train')}
    for row in rows:
        assert row['status'] == 'ok', row
        for key in ('img_per_s', 'step_s'):
            value = float(row[key])
            assert math.isfinite(value) and value > 0, row
        assert float(row['peak_extra_mb']) >= 0
        assert int(row['repeats']) == 2
    png = out / 'benchmark.png'
    assert png.stat().st_size > 1000
    with open(png, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert 'ratio' in output
