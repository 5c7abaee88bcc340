"""tools/demo.py on a generated image with random-init tiny models (through the real configs,
the real test pipelines and the libraries' visualizers)."""
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from mmseq.apis import init_model

TINY_ARCH = ("dict(_delete_=True, layers=[1, 1, 1, 1], patch_sizes=[7, 2, 1, 1], "
             "embed_dims=[16, 32, 32, 32], hidden_sizes=[4, 8, 8, 8], mlp_ratios=[2, 2, 2, 2])")

TINY = {
    'seg': ("_base_ = '{root}/configs/sem_fpn_seq2d_s_ade20k.py'\n"
            f"model = dict(backbone=dict(arch={TINY_ARCH}, init_cfg=None),\n"
            "    neck=dict(in_channels=[16, 32, 32, 32], out_channels=32),\n"
            "    decode_head=dict(in_channels=[32] * 4, channels=16,\n"
            "                     norm_cfg=dict(type='BN', requires_grad=True)))\n"),
    'det': ("_base_ = '{root}/configs/retinanet_seq2d_s_coco.py'\n"
            f"model = dict(backbone=dict(arch={TINY_ARCH}, init_cfg=None),\n"
            "    neck=dict(in_channels=[32, 32, 32], out_channels=32),\n"
            "    bbox_head=dict(in_channels=32, feat_channels=32, stacked_convs=1))\n"
            "test_pipeline = [dict(type='LoadImageFromFile'),\n"
            "    dict(type='Resize', scale=(320, 224), keep_ratio=True),\n"
            "    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',\n"
            "                                          'img_shape', 'scale_factor'))]\n"
            "test_dataloader = dict(dataset=dict(pipeline=test_pipeline))\n"),
}


def make_image(path, h=150, w=190):
    rng = np.random.default_rng(0)
    img = np.full((h, w, 3), 90, np.uint8)
    cv2.rectangle(img, (20, 30), (100, 120), (30, 200, 40), -1)
    cv2.circle(img, (150, 60), 25, (200, 40, 40), -1)
    img = np.clip(img.astype(int) + rng.integers(-10, 10, img.shape), 0, 255).astype(np.uint8)
    cv2.imwrite(path, img)
    return img


@pytest.mark.parametrize('task', ['seg', 'det'])
def test_demo_writes_visualisation(repo_root, tmp_path, task):
    cfg_path = tmp_path / f'tiny_{task}.py'
    cfg_path.write_text(TINY[task].format(root=repo_root))
    model = init_model(str(cfg_path))
    ckpt = tmp_path / 'tiny.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    image = str(tmp_path / 'image.png')
    src = make_image(image)
    out = tmp_path / 'vis' / 'out.png'
    cmd = [sys.executable, osp.join(repo_root, 'tools', 'demo.py'), image, str(cfg_path),
           str(ckpt), '--out', str(out), '--device', 'cpu']
    if task == 'det':
        cmd += ['--score-thr', '0']  # an untrained detector scores far below 0.3
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    drawn = cv2.imread(str(out))
    assert drawn is not None and drawn.shape == src.shape
    # Something was drawn on the image: class colours or boxes.
    assert np.abs(drawn.astype(int) - src.astype(int)).mean() > 1
    if task == 'det':
        assert 'boxes with score >= 0.0' in proc.stdout and not proc.stdout.startswith(
            f'{out}: 0 boxes')
    else:
        assert 'classes predicted' in proc.stdout


def test_demo_rejects_missing_image(repo_root, tmp_path):
    proc = subprocess.run(
        [sys.executable, osp.join(repo_root, 'tools', 'demo.py'), str(tmp_path / 'nope.jpg'),
         osp.join(repo_root, 'configs', 'sem_fpn_seq2d_s_ade20k.py'), 'x.pth',
         '--out', str(tmp_path / 'o.png')], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and 'no such image' in proc.stderr
