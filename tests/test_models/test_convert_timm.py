"""Public weights (timm's layout and the official release's) -> converter -> mmpretrain
classifier from configs/seq2d_s_in1k.py gives timm's logits."""
import re
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from safetensors.torch import save_file

timm = pytest.importorskip('timm')  # part of the pinned stack (requirements/runtime.txt)

CONVERTER = 'tools/model_converters/sequencer_to_mmseq.py'


@pytest.fixture(scope='module')
def timm_model():
    torch.manual_seed(0)
    model = timm.create_model('sequencer2d_s', pretrained=False).eval()
    # timm zero-initialises the classifier; give it weights so the logits mean something.
    torch.nn.init.normal_(model.head.fc.weight, std=0.02)
    torch.nn.init.normal_(model.head.fc.bias, std=0.02)
    return model


def to_official_layout(timm_sd, depths):
    """timm keys -> the official release's (inverse of timm's checkpoint_filter_fn)."""
    out = {}
    for k, v in timm_sd.items():
        m = re.match(r'stages\.(\d+)\.downsample\.down\.(.*)', k)
        if m:
            i = int(m.group(1))
            k = f'blocks.{i - 1}.{depths[i - 1]}.down.{m.group(2)}'
        k = re.sub(r'^stages\.(\d+)\.blocks\.(\d+)\.', r'blocks.\1.\2.', k)
        k = k.replace('head.fc.', 'head.')
        out[k] = v
    return {'model': out}


def build_classifier(repo_root):
    cfg = Config.fromfile(f'{repo_root}/configs/seq2d_s_in1k.py')
    init_default_scope(cfg.default_scope)
    from mmpretrain.registry import MODELS
    return MODELS.build(cfg.model).eval()


@pytest.mark.parametrize('layout', ['timm_pth', 'timm_safetensors', 'official'])
def test_converted_weights_give_timm_logits(layout, timm_model, tmp_path, repo_root):
    sd = timm_model.state_dict()
    if layout == 'timm_pth':
        src = tmp_path / 'sequencer2d_s.pth'
        torch.save(sd, src)
    elif layout == 'timm_safetensors':
        src = tmp_path / 'model.safetensors'
        save_file({k: v.contiguous() for k, v in sd.items()}, str(src))
    else:
        src = tmp_path / 'sequencer2d_s_official.pth'
        torch.save(to_official_layout(sd, [4, 3, 8, 3]), src)
    dst = tmp_path / 'seq2d_s_in1k.pth'
    proc = subprocess.run([sys.executable, CONVERTER, str(src), str(dst)], cwd=repo_root,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert 'layers=[4, 3, 8, 3]' in proc.stdout

    model = build_classifier(repo_root)
    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    model.load_state_dict(ckpt['state_dict'], strict=True)
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == sum(p.numel() for p in timm_model.parameters())

    for size in (224, 168) if layout == 'timm_pth' else (224, ):
        x = torch.randn(2, 3, size, size)
        with torch.no_grad():
            ours = model(x, mode='tensor')
            ref = timm_model(x)
        assert (ours - ref).abs().max().item() < 1e-4, size


def test_non_sequencer_checkpoint_is_rejected(tmp_path, repo_root):
    src = tmp_path / 'resnet.pth'
    torch.save({'state_dict': {'conv1.weight': torch.zeros(64, 3, 7, 7),
                               'fc.weight': torch.zeros(1000, 2048)}}, src)
    proc = subprocess.run([sys.executable, CONVERTER, str(src), str(tmp_path / 'out.pth')],
                          cwd=repo_root, capture_output=True, text=True)
    assert proc.returncode != 0
    assert 'Not a Sequencer2D checkpoint' in proc.stderr and 'conv1.weight' in proc.stderr
    assert not (tmp_path / 'out.pth').exists()


def test_incomplete_checkpoint_names_missing_keys(timm_model):
    from mmseq.models.utils import convert_sequencer_state_dict
    sd = dict(timm_model.state_dict())
    del sd['stages.2.blocks.3.mlp_channels.fc2.weight']
    sd['stages.0.blocks.0.extra.weight'] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"missing keys \['backbone.stages.2.blocks.3.mlp.fc2.weight'\]"
                                         r".*unexpected keys \['backbone.stages.0.blocks.0.extra"):
        convert_sequencer_state_dict(sd)


@pytest.mark.parametrize('name,arch,expected', [
    ('sequencer2d_s', 's', 27.65), ('sequencer2d_m', 'm', 38.31), ('sequencer2d_l', 'l', 54.30)])
def test_classifier_param_counts(name, arch, expected, repo_root):
    cfg = Config.fromfile(f'{repo_root}/configs/seq2d_{arch}_in1k.py')
    init_default_scope(cfg.default_scope)
    from mmpretrain.registry import MODELS
    ours = sum(p.numel() for p in MODELS.build(cfg.model).parameters())
    ref = sum(p.numel() for p in timm.create_model(name).parameters())
    assert ours == ref
    assert round(ours / 1e6, 2) == expected
