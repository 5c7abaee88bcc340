"""tools/analysis/hidden_states.py and mixer_hidden_states: the hooked states equal the
vertical / horizontal LSTMs and the fusion recomputed by hand on the block's input."""
import json
import os.path as osp
import sys

import cv2
import numpy as np
import pytest
import torch

from helpers import config_file, load_tool, run
from mmseq.models.layers.bilstm2d import BiLSTM2D
from mmseq.analysis import as_reference_mixer, build_model, mixer_hidden_states
from mmseq.testing import make_imagenet
from mmseq.utils import load_config

# The tiny classifier with two blocks in stage 0: the hooked block (the last) has an input
# that is not the stem's output.
CONFIG = config_file('tiny_seq2d_analysis.py')
TWO_BLOCKS = {'model.backbone.arch.layers': [2, 1, 1, 1]}


def test_states_match_lstms_run_by_hand():
    torch.manual_seed(0)
    model = build_model(load_config(CONFIG, TWO_BLOCKS))  # mixer_impl 'auto': the fused mixer
    backbone = model.backbone
    block = backbone.stages[0].blocks[1]
    fused = block.token_mixer
    assert type(fused) is not BiLSTM2D, 'the test should cover a non-reference mixer'
    x = torch.randn(2, 3, 70, 112)  # 10 x 16 tokens: rows and columns differ
    name, states = mixer_hidden_states(model, x, stage=0, block=-1)
    assert name == 'backbone.stages.0.blocks.1'
    assert block.token_mixer is fused  # restored
    assert states['vertical'].shape == (2, 10, 16, 8)
    assert states['horizontal'].shape == (2, 10, 16, 8)
    assert states['fusion'].shape == (2, 10, 16, 16)

    ref = as_reference_mixer(fused)
    with torch.no_grad():
        tokens = backbone.stages[0].blocks[0](backbone.embed(x))
        y = block.norm1(tokens)
        for col in (0, 7, 15):  # a column is one vertical sequence
            expected = ref.rnn_v(y[:, :, col])[0]
            torch.testing.assert_close(states['vertical'][:, :, col], expected)
        for row in (0, 9):  # a row is one horizontal sequence
            torch.testing.assert_close(states['horizontal'][:, row], ref.rnn_h(y[:, row])[0])
        # The fused mixer computes what the reference copy's fc saw.
        torch.testing.assert_close(states['fusion'], fused(y), rtol=1e-4, atol=1e-5)


def test_reference_copy_and_errors():
    cfg = load_config(CONFIG, {**TWO_BLOCKS, 'model.backbone.union': 'vertical',
                               'model.backbone.mixer_impl': 'reference'})
    model = build_model(cfg)
    mixer = model.backbone.stages[0].blocks[0].token_mixer
    assert as_reference_mixer(mixer) is mixer
    _, states = mixer_hidden_states(model, torch.randn(1, 3, 56, 56), stage=1, block=0)
    assert sorted(states) == ['fusion', 'vertical']  # no horizontal LSTM in this ablation
    with pytest.raises(IndexError, match='stage 4'):
        mixer_hidden_states(model, torch.randn(1, 3, 56, 56), stage=4)
    with pytest.raises(IndexError, match='block 1'):
        mixer_hidden_states(model, torch.randn(1, 3, 56, 56), stage=1, block=1)
    with pytest.raises(TypeError, match='BiLSTM2D'):
        as_reference_mixer(torch.nn.Linear(2, 2))


def test_hidden_states_tool(tmp_path, repo_root):
    make_imagenet(str(tmp_path / 'data'), num_classes=1, per_class=1, size=(100, 130),
                  val_per_class=1)
    image = str(tmp_path / 'data' / 'val' / 'ILSVRC2012_val_00000001.JPEG')
    assert osp.isfile(image)
    out = tmp_path / 'hs'
    cmd = [sys.executable, osp.join(repo_root, 'tools', 'analysis', 'hidden_states.py'),
           CONFIG, '--image', image, '--resolution', '112', '--num-channels', '3',
           '--out-dir', str(out), '--cfg-options', 'model.backbone.arch.layers=[2,1,1,1]']
    run(cmd)
    png = cv2.imread(str(out / 'hidden_states.png'))
    assert png is not None and png.std() > 0
    report = json.loads((out / 'hidden_states.json').read_text())
    assert report['block'] == 'backbone.stages.0.blocks.1'
    expected = dict(vertical=[16, 16, 8], horizontal=[16, 16, 8], fusion=[16, 16, 16])
    for key, shape in expected.items():
        state = report['states'][key]
        assert state['shape'] == shape
        assert len(state['shown_channels']) == 3
        maps = np.array(state['shown_maps'])
        assert maps.shape == (3, 16, 16) and np.isfinite(maps).all()
        # The shown channels are the ones varying most over the map.
        std = np.array(state['channel_std'])
        assert std[state['shown_channels']].min() >= np.delete(
            std, state['shown_channels']).max()

    # The tool's channel choice, in-process (saves a second interpreter start).
    tool = load_tool('tools/analysis/hidden_states.py')
    state = np.zeros((4, 4, 6))
    state[..., 2] = np.arange(16).reshape(4, 4)
    assert tool.pick_channels(state, None, 1) == [2]
    assert tool.pick_channels(state, [5, 0], 1) == [5, 0]
    with pytest.raises(ValueError, match='out of range'):
        tool.pick_channels(state, [6], 1)
