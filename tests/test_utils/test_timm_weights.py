"""``timm://sequencer2d_{s,m,l}.in1k``: the Hugging Face hub repos ``timm/<name>`` through
huggingface_hub's cache, converted to the mmpretrain classifier layout on the fly, wherever
mmengine reads a checkpoint (``init_cfg`` Pretrained, ``load_from``), in tools/test.py and the
converter tool.

Every test reads an HF cache built on disk (``$HF_HOME/hub/models--timm--<name>/``, a
snapshot and ``refs/main``, the layout ``hf_hub_download`` writes) from a randomly initialised
timm ``sequencer2d_s``, in processes started with ``HF_HUB_OFFLINE=1`` (huggingface_hub reads
its environment once, at import): nothing touches the network. Images are 56 px, a multiple of
the stride 14, where timm (which does not pad) and mmseq see the same pixels.
"""
import os.path as osp
import subprocess
import sys
from types import SimpleNamespace

import mmengine
import pytest
import torch

from helpers import REPO, TINY_ARCH, loader_options, run, subprocess_env, write_hub_cache

timm = pytest.importorskip('timm')  # part of the pinned stack (requirements/runtime.txt)

COMMIT = '3b1f5e0c9d2a7f64e8b0c1d2e3f4a5b6c7d8e9f0'  # any 40-hex revision
TIMM = 'timm://'
S = TIMM + 'sequencer2d_s.in1k'
CONFIG = 'configs/seq2d_s_in1k.py'


def write_hub_entry(hf_home, name, tensors):
    """``hf_hub_download``'s cache layout for ``timm/<name>`` at revision ``main``."""
    write_hub_cache(hf_home, name, tensors, commit=COMMIT)


@pytest.fixture(scope='module')
def hub(tmp_path_factory):
    torch.manual_seed(0)
    model = timm.create_model('sequencer2d_s', pretrained=False).eval()
    # timm zero-initialises the classifier; give it weights so the logits mean something.
    torch.nn.init.normal_(model.head.fc.weight, std=0.02)
    torch.nn.init.normal_(model.head.fc.bias, std=0.02)
    home = str(tmp_path_factory.mktemp('hf_home'))
    write_hub_entry(home, 'sequencer2d_s.in1k', model.state_dict())
    # Where sequencer2d_l.in1k should be: a file with a ResNet's keys.
    write_hub_entry(home, 'sequencer2d_l.in1k', {'conv1.weight': torch.zeros(8, 3, 7, 7),
                                                 'fc.weight': torch.zeros(10, 8)})
    x = torch.randn(2, 3, 56, 56)
    with torch.no_grad():
        logits = model(x)
        features = model.forward_features(x)  # NHWC after the final norm
    return SimpleNamespace(home=home, model=model, x=x, logits=logits, features=features)


def offline_env(monkeypatch, hf_home):
    """Environment of a process that finds the hub cache under HF_HOME and stays offline."""
    for var in ('HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE'):  # would win over HF_HOME
        monkeypatch.delenv(var, raising=False)
    return dict(HF_HOME=hf_home, HF_HUB_OFFLINE='1')


@pytest.fixture
def offline(hub, monkeypatch):
    return offline_env(monkeypatch, hub.home)


# One process: three ways mmengine reads a checkpoint (the whole classifier's init_cfg, the
# backbone's init_cfg with prefix='backbone.' as in the dense and transfer configs, and
# mmengine.runner.load_checkpoint, what Runner.load_checkpoint does with load_from), then
# mmengine's CheckpointLoader on the names given after the two paths, each error printed.
LOAD_SCRIPT = f'''
import sys
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

cfg = Config.fromfile({CONFIG!r})  # custom_imports: mmseq, and with it the timm:// scheme
init_default_scope(cfg.default_scope)
from mmpretrain.registry import MODELS

x = torch.load(sys.argv[1], weights_only=True)
out = {{}}
model = MODELS.build(dict(cfg.model, init_cfg=dict(type='Pretrained', checkpoint={S!r})))
model.init_weights()
out['init_cfg'] = model.eval()(x, mode='tensor')
cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint={S!r}, prefix='backbone.')
model = MODELS.build(cfg.model)
model.init_weights()
out['backbone'] = model.eval().backbone(x)[-1]
model = MODELS.build(cfg.model)
load_checkpoint(model, {S!r}, map_location='cpu', strict=True)
out['load_from'] = model.eval()(x, mode='tensor')
torch.save(out, sys.argv[2])
for uri in sys.argv[3:]:
    try:
        CheckpointLoader.load_checkpoint(uri)
    except (FileNotFoundError, ValueError) as err:
        print(f'{{uri}} -> {{type(err).__name__}}: {{err}}')
    else:
        print(f'{{uri}} -> loaded')
'''
M, L = 'timm://sequencer2d_m.in1k', 'timm://sequencer2d_l.in1k'


@pytest.fixture(scope='module')
def loaded(hub, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('loaded')
    x_path, out_path = str(tmp / 'x.pth'), str(tmp / 'out.pth')
    torch.save(hub.x, x_path)
    with pytest.MonkeyPatch.context() as monkeypatch:
        log = run([sys.executable, '-c', LOAD_SCRIPT, x_path, out_path, M, L],
                  **offline_env(monkeypatch, hub.home))
    errors = dict(line.split(' -> ', 1) for line in log.splitlines()
                  if line.startswith(TIMM) and ' -> ' in line)
    return SimpleNamespace(log=log, out=torch.load(out_path, weights_only=True), errors=errors)


def test_scheme_gives_timm_logits(hub, loaded):
    assert 'Loads checkpoint by timm backend from path: timm://sequencer2d_s.in1k' in loaded.log
    out = loaded.out
    for way in ('init_cfg', 'load_from'):
        assert out[way].shape == hub.logits.shape == (2, 1000)
        assert (out[way] - hub.logits).abs().max().item() < 1e-4, way
    backbone = out['backbone'].permute(0, 2, 3, 1)  # NCHW -> timm's NHWC
    assert backbone.shape == hub.features.shape == (2, 4, 4, 384)
    assert (backbone - hub.features).abs().max().item() < 1e-4


def _converted(hub):
    from mmseq.utils import convert_sequencer_state_dict
    return convert_sequencer_state_dict(hub.model.state_dict())[0]


def test_converter_tool_reads_the_scheme(hub, offline, tmp_path):
    dst = tmp_path / 'seq2d_s_in1k.pth'
    log = run([sys.executable, 'tools/model_converters/sequencer_to_mmseq.py', S, str(dst)],
              **offline)
    assert 'layers=[4, 3, 8, 3]' in log and str(dst) in log
    ckpt = torch.load(dst, weights_only=True)
    assert ckpt['meta']['converted_from'] == S
    expected = _converted(hub)
    assert sorted(ckpt['state_dict']) == sorted(expected)
    for key, value in expected.items():
        assert torch.equal(ckpt['state_dict'][key], value), key


def test_test_tool_reads_the_scheme(hub, offline, tmp_path):
    """tools/test.py CONFIG timm://... evaluates timm's weights: its dumped scores equal those
    of the classifier holding the converted weights, image by image."""
    from mmseq.apis import inference_model, init_model
    from mmseq.testing import make_imagenet
    root = str(tmp_path / 'imagenet')
    make_imagenet(root, num_classes=2, per_class=1, val_per_class=1, size=56)
    sizes = {'batch_size': 2, 'dataset.pipeline.1.scale': 56, 'dataset.pipeline.2.crop_size': 56}
    opts = [o for split in ('val', 'test') for o in loader_options(split, root, **sizes)]
    preds = str(tmp_path / 'preds.pkl')
    log = run([sys.executable, 'tools/test.py', CONFIG, S, '--work-dir', str(tmp_path / 'w'),
               '--out', preds, '--cfg-options', *opts], **offline)
    assert 'Load checkpoint from timm://sequencer2d_s.in1k' in log
    assert 'accuracy/top1' in log
    dumped = sorted(mmengine.load(preds), key=lambda p: p['img_path'])
    assert len(dumped) == 2

    model = init_model(osp.join(REPO, CONFIG), cfg_options={
        f'test_dataloader.{k}': v for k, v in sizes.items() if k != 'batch_size'})
    model.load_state_dict(_converted(hub), strict=True)
    for pred in dumped:
        ours = inference_model(model, pred['img_path']).pred_score
        assert (ours - pred['pred_score']).abs().max().item() < 1e-5, pred['img_path']


# ----------------------------------------------------------------- errors
def test_unknown_name_is_refused_naming_the_repo():
    """In this process: importing mmseq registered the scheme; the name is checked before the
    hub cache is looked at."""
    from mmseq.models import Sequencer2D
    for name in ('resnet50.a1_in1k', 'sequencer2d_s'):
        backbone = Sequencer2D(arch=dict(TINY_ARCH), init_cfg=dict(
            type='Pretrained', checkpoint=f'timm://{name}', prefix='backbone.'))
        with pytest.raises(ValueError) as info:
            backbone.init_weights()
        msg = str(info.value)
        assert f'timm/{name}' in msg and 'not one of the public Sequencer2D weights' in msg
        assert 'timm://sequencer2d_s.in1k, timm://sequencer2d_m.in1k, timm://sequencer2d_l.in1k' \
            in msg


def test_missing_entry_and_foreign_file_are_named(hub, loaded):
    """Offline: sequencer2d_m.in1k is not in the cache; sequencer2d_l.in1k holds a ResNet's
    tensors. Both errors name what was looked for and where."""
    m, l, lines = M, L, loaded.errors
    assert lines[m].startswith('FileNotFoundError: ')
    hub_dir = osp.join(hub.home, 'hub')
    for part in ('model.safetensors', 'timm/sequencer2d_m.in1k', hub_dir, 'HF_HUB_OFFLINE'):
        assert part in lines[m], part
    assert lines[l].startswith('ValueError: ')
    file = osp.join(hub_dir, 'models--timm--sequencer2d_l.in1k', 'snapshots', COMMIT,
                    'model.safetensors')
    for part in (l, file, 'Not a Sequencer2D checkpoint', 'conv1.weight'):
        assert part in lines[l], part


def test_converter_refuses_weights_of_another_size(tmp_path, monkeypatch):
    """A cache whose sequencer2d_m.in1k holds a tiny Sequencer2D: the converter exits non-zero,
    naming both archs, and writes nothing."""
    import timm.models.sequencer as tseq
    home = str(tmp_path / 'hf_home')
    write_hub_entry(home, 'sequencer2d_m.in1k', tseq.Sequencer2d(**TINY_ARCH).state_dict())
    dst = tmp_path / 'out.pth'
    proc = subprocess.run(
        [sys.executable, 'tools/model_converters/sequencer_to_mmseq.py', M, str(dst)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env=dict(subprocess_env(), **offline_env(monkeypatch, home)))
    assert proc.returncode != 0
    assert "ValueError: timm://sequencer2d_m.in1k" in proc.stderr
    assert "'layers': [1, 1, 1, 1]" in proc.stderr and "'layers': [4, 3, 14, 3]" in proc.stderr
    assert not dst.exists()


def test_repo_table_matches_the_backbone_zoo():
    from mmseq.models import Sequencer2D
    from mmseq.utils import TIMM_SEQUENCER_REPOS
    assert sorted(TIMM_SEQUENCER_REPOS) == [f'sequencer2d_{a}.in1k' for a in 'lms']
    for name, arch in TIMM_SEQUENCER_REPOS.items():
        assert Sequencer2D.arch_zoo[name[len('sequencer2d_')]] == arch, name
