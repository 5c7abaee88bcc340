"""tools/analysis/resolution.py: pipelines re-targeted to other resolutions, and top-1 per
resolution on a generated ImageNet-layout folder checked against an independent evaluation."""
import csv
import json
import math
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope

from helpers import config_file, run
from mmseq.analysis import (build_model, default_resolutions, pipeline_at_resolution,
                            train_resolution)
from mmseq.testing import make_imagenet
from mmseq.utils import get_test_pipeline, load_config

SEQ, CONVNEXT = config_file('tiny_seq2d_analysis.py'), config_file('tiny_convnext_analysis.py')


def test_pipeline_keeps_the_crop_ratio(repo_root):
    cfg = load_config(osp.join(repo_root, 'configs', 'seq2d_s_in1k.py'))
    pipeline = get_test_pipeline(cfg)
    assert train_resolution(pipeline) == 224
    for r in (112, 140, 252, 448):
        new = pipeline_at_resolution(pipeline, r)
        resize = next(t for t in new if t['type'] == 'ResizeEdge')
        crop = next(t for t in new if t['type'] == 'CenterCrop')
        assert crop['crop_size'] == r
        assert resize['scale'] == math.floor(r / 0.875 + 1e-9)  # 252 -> 288, not 287
        assert resize['interpolation'] == 'bicubic'
    assert pipeline[1]['scale'] == 256  # the config's pipeline is not modified
    square = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(384, 384)),
              dict(type='PackInputs')]
    assert train_resolution(square) == 384
    assert pipeline_at_resolution(square, 320)[1]['scale'] == (320, 320)
    with pytest.raises(ValueError, match='re-target'):
        pipeline_at_resolution([dict(type='LoadImageFromFile'), dict(type='PackInputs')], 224)


def test_default_resolutions_per_family(repo_root):
    seq = load_config(osp.join(repo_root, 'configs', 'seq2d_s_in1k.py'))
    assert default_resolutions(seq) == list(range(112, 449, 28))
    assert default_resolutions(load_config(CONVNEXT)) == list(range(128, 449, 32))


def top1_by_hand(model, root, resolution):
    """Hand-written pipeline (ResizeEdge r / 0.875 -> CenterCrop r) and argmax of logits."""
    init_default_scope('mmpretrain')
    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(type='ResizeEdge', scale=math.floor(resolution / 0.875 + 1e-9), edge='short',
             backend='pillow', interpolation='bicubic'),
        dict(type='CenterCrop', crop_size=resolution),
        dict(type='PackInputs')])
    lines = [line.split() for line in open(osp.join(root, 'meta', 'val.txt'))]
    data = pseudo_collate([pipeline(dict(img_path=osp.join(root, 'val', f))) for f, _ in lines])
    with torch.no_grad():
        inputs = model.data_preprocessor(data, False)['inputs']
        assert inputs.shape[-2:] == (resolution, resolution)
        logits = model(inputs, mode='tensor')
    labels = torch.tensor([int(y) for _, y in lines])
    return 100.0 * (logits.argmax(1) == labels).float().mean().item()


def test_resolution_tool(tmp_path, repo_root):
    root = str(tmp_path / 'imagenet')
    make_imagenet(root, num_classes=10, per_class=1, size=(96, 128), val_per_class=2)
    configs, ckpts = [SEQ, CONVNEXT], []
    for i, config in enumerate(configs):
        torch.manual_seed(i)
        model = build_model(load_config(config))
        ckpt = tmp_path / f'{i}.pth'
        torch.save({'state_dict': model.state_dict()}, ckpt)
        ckpts.append(str(ckpt))
    out = tmp_path / 'res'
    cmd = [sys.executable, osp.join(repo_root, 'tools', 'analysis', 'resolution.py'), *configs,
           '--checkpoints', *ckpts, '--names', 'Seq', 'ConvNeXt', '--data-root', root,
           '--resolutions', '112', '168', '--batch-size', '8', '--num-workers', '0',
           '--out-dir', str(out)]
    run(cmd)
    assert (out / 'resolution.png').stat().st_size > 1000
    report = json.loads((out / 'resolution.json').read_text())
    rows = list(csv.DictReader(open(out / 'resolution.csv')))
    assert len(rows) == 6  # 2 models x (112, 168 and the training resolution 224)
    seq_model = build_model(load_config(configs[0]), ckpts[0])
    for m in report['models']:
        assert m['train_resolution'] == 224
        assert [x['resolution'] for x in m['results']] == [112, 168, 224]
        by_res = {x['resolution']: x for x in m['results']}
        assert by_res[224]['delta_top1'] == 0
        for x in m['results']:
            assert 0 <= x['top1'] <= x['top5'] <= 100 and np.isfinite(x['top1'])
            assert x['delta_top1'] == pytest.approx(x['top1'] - by_res[224]['top1'])
        if m['name'] == 'Seq':
            for r in (112, 168):
                assert by_res[r]['top1'] == pytest.approx(top1_by_hand(seq_model, root, r))


def test_models_normalise_like_the_runner():
    """The config's top-level data_preprocessor (mean/std, BGR->RGB) reaches the model, as
    mmengine's Runner passes it; without it inputs would stay in 0..255."""
    model = build_model(load_config(SEQ))
    pre = model.data_preprocessor
    np.testing.assert_allclose(pre.mean.flatten().tolist(), [123.675, 116.28, 103.53], rtol=1e-6)
    np.testing.assert_allclose(pre.std.flatten().tolist(), [58.395, 57.12, 57.375], rtol=1e-6)
    assert pre.to_rgb
