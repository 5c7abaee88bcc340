"""tools/demo.py on a generated image with random-init tiny models (the tiny children of the
real configs in tests/configs/: their test pipelines and the libraries' visualizers)."""
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from helpers import config_file, run
from mmseq.apis import init_model

CONFIGS = {'seg': config_file('tiny_sem_fpn_ade20k.py'),
           'det': config_file('tiny_retinanet_coco.py')}


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
    model = init_model(CONFIGS[task])
    ckpt = tmp_path / 'tiny.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    image = str(tmp_path / 'image.png')
    src = make_image(image)
    out = tmp_path / 'vis' / 'out.png'
    cmd = [sys.executable, osp.join(repo_root, 'tools', 'demo.py'), image, CONFIGS[task],
           str(ckpt), '--out', str(out), '--device', 'cpu']
    if task == 'det':
        cmd += ['--score-thr', '0']  # an untrained detector scores far below 0.3
    output = run(cmd)
    drawn = cv2.imread(str(out))
    assert drawn is not None and drawn.shape == src.shape
    # Something was drawn on the image: class colours or boxes.
    assert np.abs(drawn.astype(int) - src.astype(int)).mean() > 1
    if task == 'det':
        assert 'boxes with score >= 0.0' in output and f'{out}: 0 boxes' not in output
    else:
        assert 'classes predicted' in output


def test_demo_rejects_missing_image(repo_root, tmp_path):
    proc = subprocess.run(
        [sys.executable, osp.join(repo_root, 'tools', 'demo.py'), str(tmp_path / 'nope.jpg'),
         osp.join(repo_root, 'configs', 'sem_fpn_seq2d_s_ade20k.py'), 'x.pth',
         '--out', str(tmp_path / 'o.png')], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and 'no such image' in proc.stderr
