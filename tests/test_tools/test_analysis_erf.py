"""tools/analysis/erf.py and the ERF functions of mmseq.analysis.erf, on tiny random-init
models (Sequencer2D, mmpretrain's ConvNeXt and ViT) and generated images."""
import json
import os.path as osp
import sys

import cv2
import numpy as np
import pytest
import torch

from helpers import config_file, run
from mmseq.analysis import (build_model, centre_cross_mask, erf_contributions, erf_layers,
                            erf_score, rescale_scores)
from mmseq.testing import make_imagenet
from mmseq.utils import load_config

SEQ, CONVNEXT, VIT, SWIN = (config_file(f'tiny_{name}_analysis.py')
                            for name in ('seq2d', 'convnext', 'vit', 'swin'))


def tiny_sequencer(mixer_impl='auto'):
    cfg = load_config(SEQ, {'model.backbone.mixer_impl': mixer_impl})
    torch.manual_seed(0)
    return build_model(cfg)


def test_default_layers_per_backbone():
    seq = tiny_sequencer()
    assert erf_layers(seq) == [(f'backbone.stages.{i}.blocks.0', 'nhwc') for i in range(4)]
    convnext = build_model(load_config(CONVNEXT))
    assert erf_layers(convnext) == [(f'backbone.stages.{i}.0', 'nchw') for i in range(4)]
    vit = build_model(load_config(VIT))
    assert erf_layers(vit) == [('backbone.layers.0', 'tokens'), ('backbone.layers.1', 'tokens')]
    # A pattern never crosses a dot: sub-modules of the blocks are not picked up.
    assert [n for n, _ in erf_layers(seq, 'backbone.stages.0.*', 'nhwc')] == [
        'backbone.stages.0.downsample', 'backbone.stages.0.blocks']
    with pytest.raises(ValueError, match='no module'):
        erf_layers(seq, 'backbone.nothing.*', 'nchw')
    with pytest.raises(ValueError, match='layout'):
        erf_layers(seq, 'backbone.stages.*.blocks.*', 'nwhc')


def test_swin_tokens_take_the_grid_of_each_block():
    """Swin blocks return (B, L, C) tokens and get their (h, w) as an argument."""
    swin = build_model(load_config(SWIN))
    layers = erf_layers(swin)
    assert layers == [(f'backbone.stages.{i}.blocks.0', 'tokens') for i in range(2)]
    res = erf_contributions(swin, [torch.randn(1, 3, 112, 112)], layers)
    assert [r['out_hw'] for r in res.values()] == [(28, 28), (14, 14)]
    for r in res.values():
        assert np.isfinite(r['contribution']).all() and r['contribution'].max() > 0


def test_first_sequencer_block_erf_is_exactly_the_centre_cross():
    """After the stem and one block, the centre token has seen only its own row (horizontal
    LSTM) and column (vertical LSTM); norms, MLP and fc are token-wise. So the ERF is zero off
    the centre cross of 7-px stem patches and spans the whole cross."""
    model = tiny_sequencer()
    layers = erf_layers(model)
    torch.manual_seed(1)
    batches = [torch.randn(2, 3, 112, 112) for _ in range(2)]
    res = erf_contributions(model, batches, layers)
    first = res['backbone.stages.0.blocks.0']
    assert first['out_hw'] == (16, 16)
    contrib = first['contribution']
    assert contrib.shape == (112, 112) and np.isfinite(contrib).all()
    cross = centre_cross_mask(contrib.shape, first['out_hw'])
    assert cross.sum() == 2 * 7 * 112 - 49  # rows 56..62 and columns 56..62
    assert (contrib[~cross] == 0).all()
    assert contrib[cross].mean() > 0
    # The LSTMs carry the centre to the ends of its row and column: nearly every 7x7 patch on
    # the cross contributes (ReLU may zero a few).
    patches = contrib.reshape(16, 7, 16, 7).sum(axis=(1, 3))
    on_cross = np.concatenate([patches[8, :], patches[:, 8]])
    assert (on_cross > 0).mean() >= 0.9
    # Later blocks: non-zero off the cross too, still denser on it.
    for name, r in res.items():
        score = erf_score(r['contribution'])
        assert np.isfinite(score).all() and score.min() >= 0
        mask = centre_cross_mask(score.shape, r['out_hw'])
        assert score[mask].mean() > score[~mask].mean(), name


def test_erf_same_for_fused_and_reference_mixers():
    fused = tiny_sequencer('auto')
    ref = tiny_sequencer('reference')
    ref.load_state_dict(fused.state_dict())
    torch.manual_seed(2)
    batch = [torch.randn(1, 3, 70, 56)]  # not square: H != W recurrences
    a = erf_contributions(fused, batch, erf_layers(fused))
    b = erf_contributions(ref, batch, erf_layers(ref))
    for name in a:
        np.testing.assert_allclose(a[name]['contribution'], b[name]['contribution'],
                                   rtol=1e-4, atol=1e-6)
    # Parameter gradients (off for the analysis) and eval mode (the LSTMs run in train mode
    # for cuDNN's backward) are restored.
    assert all(p.requires_grad for p in fused.parameters())
    assert not any(m.training for m in ref.modules())


def test_rescale_modes():
    scores = {'a': {'x': np.array([[0., 1.]]), 'y': np.array([[2., 4.]])},
              'b': {'x': np.array([[1., 3.]])}}
    g = rescale_scores(scores, 'global')
    np.testing.assert_allclose(g['a']['y'], [[0.5, 1.]])
    np.testing.assert_allclose(g['b']['x'], [[0.25, 0.75]])
    m = rescale_scores(scores, 'model')
    np.testing.assert_allclose(m['b']['x'], [[0., 1.]])
    np.testing.assert_allclose(m['a']['x'], [[0., 0.25]])
    b = rescale_scores(scores, 'block')
    np.testing.assert_allclose(b['a']['y'], [[0., 1.]])
    with pytest.raises(ValueError, match='mode'):
        rescale_scores(scores, 'max')


def test_erf_tool_three_backbones(tmp_path, repo_root):
    make_imagenet(str(tmp_path / 'data'), num_classes=3, per_class=1, size=(90, 120),
                  val_per_class=1)
    out = tmp_path / 'erf'
    cmd = [sys.executable, osp.join(repo_root, 'tools', 'analysis', 'erf.py'), SEQ, CONVNEXT, VIT,
           '--names', 'Seq', 'ConvNeXt', 'ViT', '--images', str(tmp_path / 'data' / 'val'),
           '--num-images', '2', '--resolution', '112', '--batch-size', '2',
           '--out-dir', str(out)]
    output = run(cmd)
    png = cv2.imread(str(out / 'erf.png'))
    assert png is not None and png.shape[0] > 100 and png.std() > 0
    report = json.loads((out / 'erf.json').read_text())
    assert report['resolution'] == 112 and report['num_images'] == 2
    blocks = {m['name']: m['blocks'] for m in report['models']}
    assert [len(blocks[n]) for n in ('Seq', 'ConvNeXt', 'ViT')] == [4, 4, 2]
    assert [b['out_hw'] for b in blocks['Seq']] == [[16, 16]] + [[8, 8]] * 3
    assert [b['out_hw'] for b in blocks['ConvNeXt']] == [[28, 28], [14, 14], [7, 7], [3, 3]]
    assert [b['out_hw'] for b in blocks['ViT']] == [[7, 7], [7, 7]]
    seq0 = blocks['Seq'][0]
    assert seq0['off_cross_mean'] == 0 and seq0['cross_mean'] > 0 and seq0['cross_ratio'] is None
    maps = np.load(out / 'erf_maps.npz')
    assert len(maps.files) == 10
    for key in maps.files:
        assert maps[key].shape == (112, 112) and np.isfinite(maps[key]).all(), key
    assert 'Seq: on-/off-centre-cross score ratio per block: inf' in output
