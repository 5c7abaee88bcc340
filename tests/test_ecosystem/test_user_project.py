"""Sequencer2D in a user's own project, run from a temporary folder outside the checkout:

- the README's Semantic FPN snippet, in a config whose ``_base_`` is mmseg's
  ``fpn_r50_4xb4-160k_ade20k-512x512.py``, and the RetinaNet snippet of
  docs/dense_prediction.md on mmdet's ``retinanet_r50_fpn_1x_coco.py``, train 2 iterations
  with the libraries' own ``tools/train.py`` (generated images at a small scale; the
  ``timm://`` weights from an offline hub cache of random timm weights);
- mmdet's Faster R-CNN with only the backbone and the neck's channels changed stops on its
  first iteration with the keys to change;
- with mmseq installed from its wheel, ``mmseq-config copy`` writes the Semantic FPN template
  into the folder, and ``mim train mmseq`` trains it there on the user's own data;
- ``tools/dist_train.sh`` with a mistyped config path stops at once with one line.
"""
import os
import os.path as osp
import re
import subprocess
import sys

import mmcv
import numpy as np
import pytest

from helpers import REPO, data_options, library_tool, write_hub_cache
from installed_wheel import run_installed

pytestmark = pytest.mark.slow


def snippet(doc: str, marker: str) -> str:
    """The ```python block of ``doc`` that contains ``marker``."""
    with open(osp.join(REPO, doc)) as f:
        text = f.read()
    (code, ) = [c for c in re.findall(r'^```python\n(.*?)^```', text, re.S | re.M) if marker in c]
    return code


@pytest.fixture(scope='module')
def hf_home(tmp_path_factory):
    import timm
    home = str(tmp_path_factory.mktemp('hf_home'))
    write_hub_cache(home, 'sequencer2d_s.in1k',
                    timm.create_model('sequencer2d_s', pretrained=False).state_dict())
    return home


# 2 iterations: mmseg's loop counts iterations, mmdet's epochs (of 2 images, batch 1)
LOOP = {'mmseg': ['train_cfg.max_iters=2', 'default_hooks.checkpoint.interval=2'],
        'mmdet': ['train_cfg.max_epochs=1']}


def train_with(lib, config, cwd, *options, hf_home=None, check=True):
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore', HF_HUB_OFFLINE='1')
    env.pop('PYTHONPATH', None)  # the installed mmseq, as in a user's project
    if hf_home:
        env['HF_HOME'] = hf_home
    for var in ('HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE'):
        env.pop(var, None)
    proc = subprocess.run(
        [sys.executable, library_tool(lib, 'train.py'), config, '--work-dir', 'work',
         '--cfg-options', *LOOP[lib], 'default_hooks.logger.interval=1', *options],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    if check:
        assert proc.returncode == 0, output[-5000:]
    return proc.returncode, output


def loader_options(task, data_root, scale_index, scale):
    return ['train_dataloader.batch_size=1', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', *data_options(task, data_root),
            f'train_dataloader.dataset.pipeline.{scale_index}.scale={scale}']


def test_readme_snippet_in_mmseg_semantic_fpn(tmp_path, hf_home):
    from mmseq.testing import make_ade20k
    ade = make_ade20k(str(tmp_path / 'ade'), n_train=2, n_val=1, size=(56, 70), num_classes=6)
    config = tmp_path / 'fpn_seq2d_s.py'
    config.write_text("_base_ = 'mmseg::sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py'\n"
                      + snippet('README.md', 'StridedFPNHead'))
    _, out = train_with('mmseg', str(config), str(tmp_path),
                        *loader_options('seg', ade['root'], 2, '(140,112)'), hf_home=hf_home)
    assert 'Loads checkpoint by timm backend from path: timm://sequencer2d_s.in1k' in out
    assert re.search(r'Iter\(train\) \[2/2\]', out), out[-3000:]
    assert osp.isfile(tmp_path / 'work' / 'iter_2.pth')


def test_retinanet_snippet_in_mmdet(tmp_path, hf_home):
    from mmseq.testing import make_coco
    make_coco(str(tmp_path / 'coco'), n_train=2, n_val=1, size=(60, 80), num_classes=3)
    config = tmp_path / 'retinanet_seq2d_s.py'
    config.write_text("_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'\n"
                      + snippet('docs/dense_prediction.md', 'base_sizes=[8, 16, 32, 64, 128]'))
    _, out = train_with('mmdet', str(config), str(tmp_path),
                        *loader_options('det', f'{tmp_path}/coco/', 2, '(160,120)'), hf_home=hf_home)
    assert re.search(r'Epoch\(train\)\s+\[1\]\[2/2\]', out), out[-3000:]
    assert osp.isfile(tmp_path / 'work' / 'epoch_1.pth')


def test_faster_rcnn_with_resnet_strides_stops_with_the_keys(tmp_path):
    from mmseq.testing import make_coco
    make_coco(str(tmp_path / 'coco'), n_train=2, n_val=1, size=(60, 80), num_classes=3)
    config = tmp_path / 'faster_rcnn_seq2d.py'
    config.write_text(
        "_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'\n"
        "custom_imports = dict(imports=['mmseq.models'], allow_failed_imports=False)\n"
        "model = dict(backbone=dict(_delete_=True, type='Sequencer2D', arch='s',\n"
        "                           out_indices=(0, 1, 2, 3)),\n"
        "             neck=dict(in_channels=[192, 384, 384, 384]))\n")
    code, out = train_with('mmdet', str(config), str(tmp_path),
                           *loader_options('det', f'{tmp_path}/coco/', 2, '(160,120)'), check=False)
    assert code != 0
    assert 'Iter(train)' not in out and 'Epoch(train)' not in out
    for line in ['PyramidMismatchError: FasterRCNN: the config does not match',
                 'model.rpn_head.anchor_generator.strides = [4, 8, 16, 32, 64]: set it to '
                 '[7, 14, 14, 14, 28]',
                 'model.roi_head.bbox_roi_extractor.featmap_strides = [4, 8, 16, 32]: set it '
                 'to [7, 14, 14, 14]']:
        assert line in out, out[-3000:]


def own_seg_data(root):
    """A user's segmentation data in the template's layout: 3 training images, 1 val."""
    rng = np.random.default_rng(0)
    for split, count in (('train', 3), ('val', 1)):
        for i in range(count):
            image = (rng.random((56, 70, 3)) * 255).astype(np.uint8)
            labels = np.zeros((56, 70), np.uint8)
            labels[10 + i:30, 20:50] = 1
            image[labels == 1] = (200, 60, 60)
            mmcv.imwrite(image, osp.join(root, 'img_dir', split, f'{i}.jpg'))
            mmcv.imwrite(labels, osp.join(root, 'ann_dir', split, f'{i}.png'))


def test_template_from_the_installed_wheel_trains_in_a_user_folder(installed, tmp_path):
    _, site, _ = installed
    project = tmp_path / 'my_project'
    project.mkdir()
    out = run_installed(['-m', 'mmseq.cli', 'list', 'custom'], site, str(project))
    assert out.split() == ['mask_rcnn_seq2d_s_custom.py', 'retinanet_seq2d_s_custom.py',
                           'sem_fpn_seq2d_s_custom.py']
    out = run_installed(['-m', 'mmseq.cli', 'copy', 'sem_fpn_seq2d_s_custom.py'], site,
                        str(project))
    copy = project / 'sem_fpn_seq2d_s_custom.py'
    assert out.strip() == './sem_fpn_seq2d_s_custom.py' and copy.is_file()
    text = copy.read_text()
    base = osp.join(site, 'mmseq', '.mim', 'configs', 'sem_fpn_seq2d_s_ade20k.py')
    assert f'_base_ = {base!r}' in text
    # the user's edits: the block at the top
    own_seg_data(str(project / 'data' / 'nuclei'))
    text = (text.replace("data_root = 'data/my_data'", "data_root = 'data/nuclei'")
            .replace("img_suffix = '.jpg'", "img_suffix = '.jpg'")
            .replace('crop_size = (512, 512)', 'crop_size = (56, 56)')
            .replace('scale = (2048, 512)', 'scale = (140, 56)'))
    copy.write_text(text)
    out = run_installed(
        ['-m', 'mim', 'train', 'mmseq', 'sem_fpn_seq2d_s_custom.py', '--work-dir', 'work',
         '--cfg-options', 'model.backbone.init_cfg=None', 'train_cfg.max_iters=2',
         'train_dataloader.batch_size=1', 'default_hooks.logger.interval=1',
         'default_hooks.checkpoint.interval=2'], site, str(project))
    assert osp.join(site, 'mmseq', '.mim', 'tools', 'train.py') in out
    assert 'will use' not in out  # mim took the folder's copy, not the packaged template
    assert re.search(r'Iter\(train\) \[2/2\]', out), out[-3000:]
    assert (project / 'work' / 'iter_2.pth').is_file()
    # the complete config, for a project that must not depend on the installed files
    out = run_installed(['-m', 'mmseq.cli', 'copy', 'sem_fpn_seq2d_s_custom.py', 'flat.py',
                         '--flatten'], site, str(project))
    flat = (project / 'flat.py').read_text()
    assert '_base_' not in flat and "type='StridedFPNHead'" in flat
    proc = subprocess.run([sys.executable, '-m', 'mmseq.cli', 'copy', 'no_such_config'],
                          cwd=str(project), env=dict(os.environ, PYTHONPATH=site),
                          capture_output=True, text=True)
    assert proc.returncode == 1 and 'mmseq ships no config' in proc.stderr


def test_dist_train_names_a_mistyped_config(tmp_path):
    proc = subprocess.run(['bash', osp.join(REPO, 'tools', 'dist_train.sh'),
                           'configs/sem_fpn_seq2d_s_ade2k.py', '2'], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ('dist_train.sh: no such config: '
                                   f'configs/sem_fpn_seq2d_s_ade2k.py (relative to {REPO})')
