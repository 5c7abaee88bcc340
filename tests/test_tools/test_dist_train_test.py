"""2-process gloo training then testing through tools/dist_train.sh and tools/dist_test.sh, for
segmentation, detection and classification, on generated data in the real layouts and the
real configs with tiny overrides on the command line (--cfg-options)."""
import pickle
import re

import pytest
import torch

from helpers import cls_options, ddp_checkpoint, det_options, run, seg_options
from mmseq.testing import make_ade20k, make_coco, make_imagenet

pytestmark = pytest.mark.slow


def _check_train(output, work_dir, ckpt_name, meta_key, meta_value):
    assert 'Distributed training: True' in output and 'GPU number: 2' in output
    if not torch.cuda.is_available():
        assert 'the gloo backend' in output
    return ddp_checkpoint(work_dir, ckpt_name, **{meta_key: meta_value})


def test_segmentation(tmp_path):
    make_ade20k(str(tmp_path / 'ade'), n_train=8, n_val=4, size=(56, 70), num_classes=6)
    opts = seg_options(str(tmp_path / 'ade' / 'ADEChallengeData2016'))
    work = str(tmp_path / 'work')
    out = run(['bash', 'tools/dist_train.sh', 'configs/sem_fpn_seq2d_s_ade20k.py', '2',
               '--work-dir', work, '--cfg-options', 'train_cfg.max_iters=4',
               'train_cfg.val_interval=4', 'default_hooks.checkpoint.interval=4',
               'default_hooks.logger.interval=1', 'randomness.seed=0', *opts])
    # the config asks for SyncBN, which cannot run on CPU tensors
    if not torch.cuda.is_available():
        assert 'SyncBN config(s) run as BN' in out
    assert re.search(r'Iter\(train\) \[4/4\]', out)
    ckpt = _check_train(out, work, 'iter_4.pth', 'iter', 4)

    out = run(['bash', 'tools/dist_test.sh', 'configs/sem_fpn_seq2d_s_ade20k.py', ckpt, '2',
               '--work-dir', str(tmp_path / 'test'), '--cfg-options', *opts])
    assert f'Load checkpoint from {ckpt}' in out
    # 4 validation images split over 2 processes
    miou = re.findall(r'Iter\(test\) \[2/2\].*?mIoU: ([0-9.]+)', out)
    assert len(miou) == 1 and 0.0 <= float(miou[0]) <= 100.0


def test_detection(tmp_path):
    make_coco(str(tmp_path / 'coco'), n_train=8, n_val=4, size=(60, 80), num_classes=3)
    opts = det_options(str(tmp_path / 'coco'))
    work = str(tmp_path / 'work')
    out = run(['bash', 'tools/dist_train.sh', 'configs/retinanet_seq2d_s_coco.py', '2',
               '--work-dir', work, '--cfg-options', 'train_cfg.max_epochs=1',
               'default_hooks.logger.interval=1', 'randomness.seed=0', *opts])
    assert re.search(r'Epoch\(train\) \[1\]\[2/2\]', out)  # 8 images / (2 procs x 2)
    ckpt = _check_train(out, work, 'epoch_1.pth', 'epoch', 1)

    preds = str(tmp_path / 'preds.pkl')
    out = run(['bash', 'tools/dist_test.sh', 'configs/retinanet_seq2d_s_coco.py', ckpt, '2',
               '--work-dir', str(tmp_path / 'test'), '--out', preds, '--cfg-options', *opts])
    assert re.search(r'Epoch\(test\) \[2/2\].*coco/bbox_mAP: [0-9.]+', out)
    # --out gathers every rank's predictions: one per validation image
    with open(preds, 'rb') as f:  # written by this test
        results = pickle.load(f)
    assert sorted(r['img_id'] for r in results) == [9, 10, 11, 12]
    assert all(len(r['pred_instances']['bboxes']) > 0 for r in results)


def test_classification(tmp_path):
    make_imagenet(str(tmp_path / 'imagenet'), num_classes=4, per_class=4, size=64,
                  val_per_class=2)
    opts = cls_options(str(tmp_path / 'imagenet'))
    work = str(tmp_path / 'work')
    out = run(['bash', 'tools/dist_train.sh', 'configs/seq2d_s_in1k.py', '2',
               '--work-dir', work, '--cfg-options', 'train_cfg.max_epochs=1',
               'default_hooks.logger.interval=1', 'randomness.seed=0', *opts])
    # the recipe's AmpOptimWrapper needs CUDA; without it bf16 autocast takes over
    if not torch.cuda.is_available():
        assert 'mixed precision through mmseq.AutocastOptimWrapper' in out
    assert re.search(r'Epoch\(train\) \[1\]\[2/2\]', out)  # 16 images / (2 procs x 4)
    ckpt = _check_train(out, work, 'epoch_1.pth', 'epoch', 1)

    out = run(['bash', 'tools/dist_test.sh', 'configs/seq2d_s_in1k.py', ckpt, '2',
               '--work-dir', str(tmp_path / 'test'), '--cfg-options', *opts])
    top1 = re.findall(r'Epoch\(test\) \[1/1\].*accuracy/top1: ([0-9.]+)', out)
    assert len(top1) == 1 and 0.0 <= float(top1[0]) <= 100.0
