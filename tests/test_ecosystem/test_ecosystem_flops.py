"""mmengine's FLOP counter counts the BiLSTM2D mixers (issue 11, part 5).

``mmengine.analysis`` (behind mmpretrain's and mmdet's ``tools/analysis_tools/get_flops.py``)
traces the model; under tracing every BiLSTM2D runs ``nn.LSTM``, i.e. ``aten::lstm``, which
mmengine has no handle for (0 FLOPs: Sequencer2D-S at 224 read 4.96G). Importing mmseq
registers handles for the RNN ops (:mod:`mmseq.utils.flop_handles`) in the convention of the
project's counter, ``tools/analysis/get_flops.py``: mmengine's count is then the project's
exactly plus the LayerNorms, which mmengine counts (5 per element, 0.26% of S) and the paper's
convention does not. The ops that stay unsupported (0 FLOPs) are the residual adds and GELUs
(not counted by the paper's convention either, together < 0.2%) and shape arithmetic
(``aten::mul`` of ``B * W`` in the mixer's reshapes, ``aten::neg`` / ``aten::pad`` of the
padding to a multiple of the stride), none of which are multiply-adds.
"""
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer, get_model_complexity_info

import mmseq.models  # noqa: F401  registers the models and the FLOP handles
from helpers import REPO, TINY_ARCH, library_tool, load_tool
from mmseq.registry import MODELS

pytestmark = pytest.mark.slow

# Still 0 FLOPs in mmengine, none of them a multiply-add (see the module docstring).
ZERO_COST_OPS = {'aten::add', 'aten::gelu', 'aten::mul', 'aten::neg', 'aten::pad'}
project = load_tool('tools/analysis/get_flops.py')


def _analyzer(model, inputs):
    flops = FlopAnalyzer(model, inputs)
    flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return flops.tracer_warnings('none')


@pytest.fixture(scope='module')
def mmpretrain_get_flops(tmp_path_factory):
    """mmpretrain's own get_flops.py on configs/seq2d_s_in1k.py at 112 px, started in the
    background when the module starts (the full S at 224 takes ~40 s here; it prints
    8.395G: the project's 8.37G + 0.022G of LayerNorms)."""
    proc = subprocess.Popen(
        [sys.executable, library_tool('mmpretrain', 'analysis_tools/get_flops.py'),
         osp.join(REPO, 'configs', 'seq2d_s_in1k.py'), '--shape', '112'],
        cwd=str(tmp_path_factory.mktemp('get_flops')), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
        env=dict({k: v for k, v in os.environ.items() if k != 'PYTHONPATH'},
                 OMP_NUM_THREADS='1'))
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.fixture(scope='module')
def seq2d_s(mmpretrain_get_flops):
    return MODELS.build(dict(type='mmseq.Sequencer2D', arch='s')).eval()


# A trace of S costs ~10 s on two busy cores, whatever the input size (get_model_complexity_info
# traces twice): S here once at 160 (padded to 168), at 112 by mmpretrain's tool above, and
# get_model_complexity_info on the tiny arch. S at 224 (Table 1: the project's 8.37G with the
# head) reads 4.96G in mmengine without the handles, 8.395G with them.
def test_analyzer_matches_project_counter_on_s(seq2d_s):
    flops = _analyzer(seq2d_s, (torch.randn(1, 3, 160, 160), ))
    expected = project.analyse(seq2d_s, (160, 160), num_classes=0)['macs']
    assert abs(flops.total() - expected) / expected < 0.005, (flops.total(), expected)
    assert flops.total() - flops.by_operator()['layer_norm'] == expected
    assert set(flops.unsupported_ops()) <= ZERO_COST_OPS, flops.unsupported_ops()


@pytest.mark.parametrize('size', [56, 98])
def test_get_model_complexity_info_is_project_count_plus_layer_norms(size):
    model = MODELS.build(dict(type='mmseq.Sequencer2D', arch=TINY_ARCH)).eval()
    info = get_model_complexity_info(model, input_shape=(3, size, size), show_table=False,
                                     show_arch=False)
    layer_norms = _analyzer(model, (torch.randn(1, 3, size, size), )).by_operator()['layer_norm']
    expected = project.analyse(model, (size, size), num_classes=0)['macs']
    assert info['flops'] == expected + layer_norms


@pytest.mark.parametrize('size, rnn_type, union', [
    (56, 'lstm', 'cat'), (84, 'lstm', 'cat'), (60, 'gru', 'cat'), (56, 'rnn', 'add')])
def test_flops_by_operator_are_project_counts_plus_layer_norms(size, rnn_type, union):
    model = MODELS.build(dict(type='mmseq.Sequencer2D', arch=TINY_ARCH, rnn_type=rnn_type,
                              union=union, out_indices=(0, 1, 2, 3))).eval()
    flops = _analyzer(model, (torch.randn(1, 3, size, size), ))
    by_op = flops.by_operator()
    rnn_op = {'lstm': 'lstm', 'gru': 'gru', 'rnn': 'rnn_tanh'}[rnn_type]
    counted = project.analyse(model, (size, size), num_classes=0)['by_kind']
    assert by_op[rnn_op] == counted['rnn']
    assert flops.total() - by_op['layer_norm'] == sum(counted.values())
    assert set(flops.unsupported_ops()) <= ZERO_COST_OPS, flops.unsupported_ops()


def _lstm_macs(input_size, hidden, layers, directions, proj=0, gates=4, cell_ops=18):
    """Per token: every weight matrix once, plus the cell's element-wise ops."""
    out = proj or hidden
    per_direction = [gates * hidden * ((input_size if layer == 0 else out * directions) + out)
                     + hidden * proj + cell_ops * hidden for layer in range(layers)]
    return directions * sum(per_direction)


@pytest.mark.parametrize('kwargs', [
    dict(num_layers=2, bidirectional=True),
    dict(num_layers=1, bidirectional=False, proj_size=3),
    dict(num_layers=1, bidirectional=True, bias=False),
])
def test_lstm_handle_layers_directions_projections(kwargs):
    lstm = nn.LSTM(6, 5, batch_first=True, **kwargs)
    flops = _analyzer(lstm, (torch.randn(2, 7, 6), ))
    expected = 2 * 7 * _lstm_macs(6, 5, kwargs['num_layers'], 2 if kwargs['bidirectional'] else 1,
                                  kwargs.get('proj_size', 0))
    assert flops.total() == expected


def test_lstm_handle_packed_sequence():

    class Packed(nn.Module):

        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(6, 5, bidirectional=True)

        def forward(self, x):
            packed = nn.utils.rnn.pack_padded_sequence(x, torch.tensor([7, 4]))
            return self.lstm(packed)[0].data

    flops = _analyzer(Packed(), (torch.randn(7, 2, 6), ))
    assert flops.by_operator()['lstm'] == (7 + 4) * _lstm_macs(6, 5, 1, 2)


def test_mmpretrain_get_flops_tool(mmpretrain_get_flops):
    output, _ = mmpretrain_get_flops.communicate(timeout=300)
    assert mmpretrain_get_flops.returncode == 0, output[-4000:]
    match = re.search(r'^Flops: ([\d.]+)G$', output, re.M)
    assert match, output[-4000:]
    model = MODELS.build(dict(type='mmseq.Sequencer2D', arch='s'))
    expected = project.analyse(model, (112, 112), num_classes=0)['macs']
    # extract_feat: the backbone and the neck's global pooling (98K at 224), 3 decimals
    assert abs(float(match.group(1)) * 1e9 - expected) / expected < 0.005, (output[-600:],
                                                                            expected)
    assert 'aten::lstm' not in output


def test_mmdet_get_flops_tool(tmp_path):
    """mmdet's own get_flops.py on a user's RetinaNet config (``custom_imports`` of
    ``mmseq.models`` only) and a generated COCO set: no LSTM left unsupported, and its count
    is the one mmengine gives in this process, where the handles are registered, for the same
    detector at the padded input shape the tool reports."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from helpers import data_options, make_task_data, run_tool, user_config
    from mmengine.analysis.print_helper import _format_size
    data = make_task_data(str(tmp_path / 'data'))['det']
    config = user_config('det', str(tmp_path))
    output = run_tool('mmdet', 'analysis_tools/get_flops.py',
                      [config, '--num-images', '1', '--cfg-options', *data_options('det', data)],
                      str(tmp_path))
    assert 'aten::lstm' not in output, output[-3000:]
    flops = re.search(r'^Flops: (\S+)$', output, re.M)
    shape = re.search(r'^Input shape: \((\d+), (\d+)\)$', output, re.M)
    assert flops and shape, output[-3000:]
    cfg = Config.fromfile(config)
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model).eval()
    inputs = torch.zeros(1, 3, int(shape.group(1)), int(shape.group(2)))
    expected = get_model_complexity_info(model, inputs=inputs, show_table=False,
                                         show_arch=False)['flops']
    assert flops.group(1) == _format_size(expected), (output[-600:], expected)
