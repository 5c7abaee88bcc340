"""The real HeLa nuclei images: the cache `make setup` fills, their conversion (a split in time,
labels that agree with the COCO boxes and polygons), and a small Sequencer2D that learns to
segment them on held-out frames through the tools users run."""
import json
import os
import os.path as osp
import re
import subprocess
import sys

import mmcv
import numpy as np
import pytest

from helpers import REPO, run

DEMO = 'configs/demo/sem_fpn_seq2d_hela_cpu.py'


@pytest.fixture(scope='module')
def hela_root(tmp_path_factory):
    """The converted data set, from the cache (a failure saying how to fetch it when absent)."""
    from mmseq.datasets import hela
    root = tmp_path_factory.mktemp('hela')
    hela.convert(root)
    return root


def test_missing_cache_is_an_error_that_says_how_to_fetch(tmp_path):
    proc = subprocess.run(
        [sys.executable, 'tools/dataset_converters/hela.py', 'convert', str(tmp_path / 'out')],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env=dict(__import__('os').environ, MMSEQ_DATA_CACHE=str(tmp_path / 'empty')))
    assert proc.returncode == 1
    assert 'the HeLa data is not in the cache' in proc.stderr
    assert 'make setup' in proc.stderr and 'hela.py fetch' in proc.stderr
    assert not (tmp_path / 'out').exists()


def test_split_in_time_and_labels_agree(hela_root):
    from mmseq.datasets import hela
    train = sorted((hela_root / 'img_dir' / 'train').iterdir())
    val = sorted((hela_root / 'img_dir' / 'val').iterdir())
    assert [p.name for p in train] == [f't{t:03d}.png' for t in hela.TRAIN_FRAMES]
    assert [p.name for p in val] == [f't{t:03d}.png' for t in hela.TEST_FRAMES]
    assert max(hela.TRAIN_FRAMES) + 1 < min(hela.TEST_FRAMES)  # a gap: no neighbours
    for split in ('train', 'val'):
        for name in sorted(os.listdir(hela_root / 'img_dir' / split))[:2]:
            image = mmcv.imread(str(hela_root / 'img_dir' / split / name))
            labels = mmcv.imread(str(hela_root / 'ann_dir' / split / name), flag='unchanged')
            assert image.shape[:2] == labels.shape == (700, 1100)
            assert set(np.unique(labels)) == {0, 1}
            assert image.std() > 10  # scaled to 8 bits, not a flat frame
        coco = json.loads((hela_root / 'annotations' / f'instances_{split}.json').read_text())
        assert [c['name'] for c in coco['categories']] == ['nucleus']
        assert len({a['id'] for a in coco['annotations']}) == len(coco['annotations'])
        frames = hela.TRAIN_FRAMES if split == 'train' else hela.TEST_FRAMES
        assert len(coco['images']) == 4 * len(frames)  # 2x2 tiles per frame
        for info in coco['images'][:5]:
            frame, k = info['file_name'][1:4], int(info['file_name'][5])
            tile = mmcv.imread(str(hela_root / 'tile_dir' / split / info['file_name']))
            assert tile.shape[:2] == (info['height'], info['width']) == (350, 550)
            full = mmcv.imread(str(hela_root / 'img_dir' / split / f't{frame}.png'))
            y0, x0 = k // 2 * 350, k % 2 * 550
            assert np.array_equal(tile, full[y0:y0 + 350, x0:x0 + 550])
            labels = mmcv.imread(str(hela_root / 'ann_dir' / split / f't{frame}.png'),
                                 flag='unchanged')[y0:y0 + 350, x0:x0 + 550]
            boxes = [a for a in coco['annotations'] if a['image_id'] == info['id']]
            assert 20 < len(boxes) < 100  # under COCO's 100 detections per image
            sizes = np.array([a['bbox'][2:] for a in boxes])
            assert 20 < np.median(sizes) < 40 and sizes.max() < 150  # nuclei of ~28 px
            covered = np.zeros_like(labels)
            for a in boxes:
                x, y, w, h = a['bbox']
                covered[y:y + h, x:x + w] = 1
                poly = np.array(a['segmentation'][0]).reshape(-1, 2)
                assert poly[:, 0].min() >= x and poly[:, 0].max() <= x + w - 1
                assert poly[:, 1].min() >= y and poly[:, 1].max() <= y + h - 1
            # every nucleus pixel of the label map lies in a box
            assert (labels[covered == 0] == 0).mean() > 0.999


@pytest.mark.slow
def test_small_sequencer2d_learns_to_segment_held_out_frames(hela_root, tmp_path):
    """The demo's config, a shorter schedule in one process: training and testing with
    tools/train.py and tools/test.py reach a nucleus IoU on held-out frames far above what a
    model that learned nothing gets (all background: 0; all nucleus: ~15)."""
    iters = 120
    options = [f'{k}.dataset.data_root={hela_root}' for k in ('train_dataloader',
                                                               'test_dataloader')]
    options += [f'train_cfg.max_iters={iters}', 'train_dataloader.batch_size=4',
                f'param_scheduler.1.end={iters}', f'default_hooks.checkpoint.interval={iters}']
    run([sys.executable, 'tools/train.py', DEMO, '--work-dir', str(tmp_path),
         '--cfg-options', *options], timeout=900, OMP_NUM_THREADS=2)
    checkpoint = open(tmp_path / 'last_checkpoint').read().strip()
    out = run([sys.executable, 'tools/test.py', DEMO, checkpoint, '--work-dir',
               str(tmp_path / 'test'), '--cfg-options', *options[1:2]], timeout=600,
              OMP_NUM_THREADS=2)
    nucleus = float(re.search(r'\|\s+nucleus\s+\|\s+([0-9.]+)', out).group(1))
    print(f'nucleus IoU on held-out frames after {iters} iterations: {nucleus}')
    assert nucleus > 70, out[-3000:]
    assert osp.isfile(checkpoint)
