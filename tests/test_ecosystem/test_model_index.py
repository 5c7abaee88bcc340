"""mmseq's models by name and as a packaged OpenMMLab codebase (issue 11, part 3).

- After ``import mmseq.models`` mmpretrain's own APIs know ``sequencer2d-{s,m,l}_3rdparty_in1k``
  (model-index.yml -> configs/metafile.yml): ``list_models``, ``get_model`` (the parameter
  count and, for S, the FLOPs of tools/analysis/get_flops.py equal the metafile's), and
  ``ImageClassificationInferencer(name, pretrained=<checkpoint>)`` on a generated image,
  through the packaged config and its test pipeline.
- A wheel built from this checkout (``pip wheel``, without the C++ step loops) carries the
  configs, tools and model index under ``mmseq/.mim/``. Installed into a folder of its own
  (``pip install --target``) and put first on ``PYTHONPATH``, it is the mmseq of a fresh
  process: ``custom_imports=['mmseq.models']`` registers the installed copy's index;
  ``get_model(name, pretrained=True)`` loads the metafile's ``timm://`` weights from an
  offline Hugging Face cache written here (random timm weights: the logits must be timm's);
  ``mim train mmseq seq2d_s_in1k.py`` / ``mim test mmseq seq2d_s_in1k.py --checkpoint ...``
  find that config and the installed ``.mim/tools`` and run them on generated ImageNet data
  (the real S config, shrunk with the tiny arch on the command line).

No network: the hub cache is local and the processes that read it are offline.
"""
import os
import os.path as osp
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

import mmseq.models  # noqa: F401  (as a user does first: registers the names)
from helpers import REPO, cls_options, load_tool, write_hub_cache
from installed_wheel import run_installed as _run_installed

pytestmark = pytest.mark.slow

ARCHS = ('s', 'm', 'l')
NAMES = {arch: f'sequencer2d-{arch}_3rdparty_in1k' for arch in ARCHS}
FULL_FLOPS = os.environ.get('MMSEQ_FULL_FLOPS', '') not in ('', '0')


def _hub(name):
    from mmpretrain.apis import ModelHub
    return ModelHub.get(name)


def test_list_models_and_metainfo():
    import mmseq
    from mmpretrain import list_models
    assert list_models('*sequencer*') == sorted(NAMES.values())
    package = osp.dirname(osp.abspath(mmseq.__file__))
    for arch, name in NAMES.items():
        info = _hub(name)
        assert info.weights == f'timm://sequencer2d_{arch}.in1k'
        # the config is the package's copy (links into the checkout in an editable install)
        assert info.config.filename == osp.join(package, '.mim', 'configs',
                                                f'seq2d_{arch}_in1k.py')
        assert osp.samefile(info.config.filename, osp.join(REPO, 'configs',
                                                           f'seq2d_{arch}_in1k.py'))
        assert info.config.model.backbone.arch == arch
        (result, ) = info.results
        assert result.task == 'Image Classification' and result.dataset == 'ImageNet-1k'
    # the paper's Table 1 top-1 at 224 px
    tops = {arch: _hub(n).results[0].metrics['Top 1 Accuracy'] for arch, n in NAMES.items()}
    assert tops == dict(s=82.3, m=82.8, l=83.4)


def test_register_model_index_once_and_errors(tmp_path):
    from mmseq.models.model_index import MODEL_INDEX, register_model_index
    register_model_index(MODEL_INDEX)  # registered on import already: nothing happens
    with pytest.raises(FileNotFoundError, match='model index not found'):
        register_model_index(str(tmp_path / 'model-index.yml'))
    # another index naming one of mmseq's models: ModelHub refuses the second one
    (tmp_path / 'model-index.yml').write_text('Import:\n  - metafile.yml\n')
    (tmp_path / 'metafile.yml').write_text(
        f'Models:\n  - Name: {NAMES["s"]}\n    Config: seq2d_s_in1k.py\n')
    with pytest.raises(ValueError, match='conflict'):
        register_model_index(str(tmp_path / 'model-index.yml'))
    assert _hub(NAMES['s']).config.filename.endswith(osp.join('.mim', 'configs',
                                                              'seq2d_s_in1k.py'))


@pytest.mark.parametrize('arch', ARCHS)
def test_get_model_matches_metafile(arch):
    from mmpretrain import get_model
    name = NAMES[arch]
    model = get_model(name)
    assert type(model).__name__ == 'ImageClassifier'
    assert type(model.backbone).__name__ == 'Sequencer2D'
    assert model.head.num_classes == 1000
    metadata = _hub(name).metadata
    assert sum(p.numel() for p in model.parameters()) == metadata.parameters
    if arch != 's' and not FULL_FLOPS:
        return  # an M/L count at 224 px takes many seconds: MMSEQ_FULL_FLOPS=1 counts them
    counted = load_tool('tools/analysis/get_flops.py').analyse(
        model.backbone, (224, 224), num_classes=1000)
    assert counted['params'] == metadata.parameters
    assert counted['macs'] == metadata.flops


def test_pretrained_checkpoint_and_inferencer(tmp_path):
    """The Inferencer of a name, with a checkpoint as ``pretrained`` (which it hands to
    ``get_model``), runs that checkpoint: its head says class 417 whatever the image."""
    from mmengine.dataset import Compose, pseudo_collate
    from mmengine.registry import DefaultScope
    from mmpretrain import ImageClassificationInferencer, get_model
    from mmpretrain.datasets import ImageNet
    name = NAMES['s']
    state = get_model(name).state_dict()
    state['head.fc.weight'].zero_()
    state['head.fc.bias'].zero_()
    state['head.fc.bias'][417] = 10.0
    ckpt = str(tmp_path / 'seq2d_s.pth')
    torch.save(dict(state_dict=state), ckpt)

    inferencer = ImageClassificationInferencer(name, pretrained=ckpt)
    model = inferencer.model
    loaded = model.state_dict()
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], state[k]) for k in state)

    image = str(tmp_path / 'image.png')
    pixels = np.random.default_rng(0).integers(0, 256, (60, 76, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(image)
    (result, ) = inferencer(image)
    assert result['pred_label'] == 417
    assert result['pred_class'] == ImageNet.METAINFO['classes'][417]
    expected = float(np.exp(10.0) / (np.exp(10.0) + 999))
    assert result['pred_score'] == pytest.approx(expected, rel=1e-5)

    # the same as the model on the packaged config's test pipeline (resize 256, crop 224)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        pipeline = Compose(model._config.test_dataloader.dataset.pipeline)
    with torch.no_grad():
        (sample, ) = model.test_step(pseudo_collate([pipeline(dict(img_path=image))]))
    assert sample.pred_score.shape == (1000, )
    np.testing.assert_allclose(result['pred_scores'], sample.pred_score.numpy(), rtol=1e-5)


# ----------------------------------------------------------------- the wheel, installed
WHEEL_FILES = ['mmseq/.mim/model-index.yml', 'mmseq/.mim/configs/metafile.yml',
               'mmseq/.mim/configs/seq2d_s_in1k.py', 'mmseq/.mim/configs/_base_/models/'
               'sequencer2d_cls.py', 'mmseq/.mim/tools/train.py', 'mmseq/.mim/tools/test.py',
               'mmseq/models/model_index.py', 'mmseq/analysis/data/imagenet_wnids.txt']


def test_wheel_ships_configs_tools_and_model_index(installed):
    wheel, _, _ = installed
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for name in WHEEL_FILES:
            assert name in names, f'{name} is not in {osp.basename(wheel)}'
        # copies of the checkout's files, not links
        for rel in ('model-index.yml', 'configs/seq2d_s_in1k.py', 'tools/train.py'):
            with open(osp.join(REPO, rel), 'rb') as f:
                assert zf.read(f'mmseq/.mim/{rel}') == f.read()
        assert not any('__pycache__' in n for n in names if n.startswith('mmseq/.mim/'))


def test_wheel_carries_the_license(installed):
    wheel, _, _ = installed
    with zipfile.ZipFile(wheel) as zf:
        info = next(n for n in zf.namelist() if n.endswith('.dist-info/METADATA'))
        metadata = zf.read(info).decode()
        (license_file, ) = [n for n in zf.namelist() if n.endswith('.dist-info/licenses/LICENSE')]
        with open(osp.join(REPO, 'LICENSE'), 'rb') as f:
            assert zf.read(license_file) == f.read()
    assert 'License-File: LICENSE' in metadata and 'License: Apache License 2.0' in metadata


# A fresh process on the installed wheel: the names come from its own index through
# custom_imports, and get_model(name, pretrained=True) reads the metafile's timm:// weights.
INSTALLED_SCRIPT = """
import sys
import torch
from mmengine.utils import import_modules_from_strings
import_modules_from_strings(['mmseq.models'])  # what custom_imports does
import mmseq
from mmpretrain import get_model
from mmpretrain.apis import ModelHub
print('package', mmseq.__file__)
print('config', ModelHub.get('sequencer2d-l_3rdparty_in1k').config.filename)
model = get_model('sequencer2d-s_3rdparty_in1k', pretrained=True)
x, expected = torch.load(sys.argv[1], weights_only=True)
with torch.no_grad():
    logits = model(x, mode='tensor')
print('max abs diff', (logits - expected).abs().max().item())
"""


def test_installed_wheel_by_name(installed, tmp_path):
    """The installed copy registers its own index, and its S loads timm's weights by name
    (``pretrained=True``) from an offline hub cache: the logits are timm's."""
    import timm
    _, site, _ = installed
    torch.manual_seed(0)
    reference = timm.create_model('sequencer2d_s', pretrained=False).eval()
    # timm zero-initialises the classifier: random weights, so the logits say something
    torch.nn.init.normal_(reference.head.fc.weight, std=0.02)
    torch.nn.init.normal_(reference.head.fc.bias, std=0.02)
    hf_home = str(tmp_path / 'hf_home')
    write_hub_cache(hf_home, 'sequencer2d_s.in1k', reference.state_dict())
    x = torch.randn(2, 3, 56, 56)  # a multiple of 14: timm (no padding) sees the same pixels
    with torch.no_grad():
        torch.save((x, reference(x)), str(tmp_path / 'x.pth'))

    out = _run_installed(['-c', INSTALLED_SCRIPT, str(tmp_path / 'x.pth')], site,
                         str(tmp_path), HF_HOME=hf_home, HF_HUB_OFFLINE='1')
    assert f'package {osp.join(site, "mmseq", "__init__.py")}' in out
    assert f'config {osp.join(site, "mmseq", ".mim", "configs", "seq2d_l_in1k.py")}' in out
    assert 'Loads checkpoint by timm backend from path: timm://sequencer2d_s.in1k' in out
    (diff, ) = re.findall(r'max abs diff ([0-9.e+-]+)', out)
    assert float(diff) < 1e-4


def test_mim_train_and_test(installed, tmp_path):
    _, site, imagenet = installed
    opts = cls_options(imagenet)
    work = str(tmp_path / 'work')
    out = _run_installed(['-m', 'mim', 'train', 'mmseq', 'seq2d_s_in1k.py', '--work-dir', work,
                          '--cfg-options', 'train_cfg.max_epochs=1',
                          'default_hooks.logger.interval=1', *opts], site, str(tmp_path))
    packaged = osp.join(site, 'mmseq', '.mim', 'configs', 'seq2d_s_in1k.py')
    assert f'will use {packaged} instead' in out  # mim found the packaged config by name
    assert f'{osp.join(site, "mmseq", ".mim", "tools", "train.py")} {packaged}' in out
    assert re.search(r'Epoch\(train\) \[1\]\[2/2\]', out)  # 8 images / batch 4
    ckpt = osp.join(work, 'epoch_1.pth')
    assert osp.isfile(ckpt)

    out = _run_installed(['-m', 'mim', 'test', 'mmseq', 'seq2d_s_in1k.py', '--checkpoint', ckpt,
                          '--work-dir', str(tmp_path / 'test'), '--cfg-options', *opts],
                         site, str(tmp_path))
    assert osp.join(site, 'mmseq', '.mim', 'tools', 'test.py') in out
    top1 = re.findall(r'Epoch\(test\) \[1/1\].*accuracy/top1: ([0-9.]+)', out)
    assert len(top1) == 1 and 0.0 <= float(top1[0]) <= 100.0


# ----------------------------------------------------------------- the editable install
def test_mim_train_and_test_with_the_editable_install(tmp_path):
    """``make setup``'s editable install (``pip install -e .``) and
    ``tools/misc/mim_link.py``: mim finds ``<site-packages>/mmseq/.mim`` (a link to the
    checkout's package, recorded for ``pip uninstall``), the config by name and the
    checkout's tools, and trains and tests with them in a fresh process."""
    import importlib.metadata
    dist = importlib.metadata.distribution('mmseq')
    mim_link = load_tool('tools/misc/mim_link.py')
    if mim_link.editable_checkout(dist) != mim_link.CHECKOUT:
        pytest.skip('mmseq is not an editable install of this checkout (make setup)')
    site = str(dist.locate_file(''))
    link = osp.join(site, 'mmseq')
    assert osp.realpath(link) == osp.realpath(osp.join(REPO, 'mmseq')), \
        f'{link} is not linked to the checkout: run tools/misc/mim_link.py (make setup does)'
    assert 'mmseq' in [str(f) for f in dist.files]  # pip uninstall removes the link

    from mmseq.testing import make_imagenet
    imagenet = str(tmp_path / 'imagenet')
    make_imagenet(imagenet, num_classes=4, per_class=2, size=64, val_per_class=1)
    opts = cls_options(imagenet)
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    env.pop('PYTHONPATH', None)  # mmseq as installed, the way a user's shell has it

    def mim(*args):
        proc = subprocess.run([sys.executable, '-m', 'mim', *args], cwd=str(tmp_path),
                              env=env, capture_output=True, text=True, timeout=600)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, f'mim {" ".join(args[:3])} failed:\n{output[-5000:]}'
        return output

    work = str(tmp_path / 'work')
    out = mim('train', 'mmseq', 'seq2d_s_in1k.py', '--work-dir', work, '--cfg-options',
              'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1', *opts)
    config = osp.join(REPO, 'configs', 'seq2d_s_in1k.py')  # mim prints the link's target
    assert f'will use {config} instead' in out
    assert f'{osp.join(link, ".mim", "tools", "train.py")} {config}' in out
    assert re.search(r'Epoch\(train\) \[1\]\[2/2\]', out)  # 8 images / batch 4
    ckpt = osp.join(work, 'epoch_1.pth')
    assert osp.isfile(ckpt)

    out = mim('test', 'mmseq', 'seq2d_s_in1k.py', '--checkpoint', ckpt, '--work-dir',
              str(tmp_path / 'test'), '--cfg-options', *opts)
    assert osp.join(link, '.mim', 'tools', 'test.py') in out
    top1 = re.findall(r'Epoch\(test\) \[1/1\].*accuracy/top1: ([0-9.]+)', out)
    assert len(top1) == 1 and 0.0 <= float(top1[0]) <= 100.0
