"""nccl training then testing through tools/dist_train.sh and tools/dist_test.sh with one
process per visible GPU, for classification, segmentation and detection, on generated data
and the real configs shrunk on the command line (the CUDA twin of
tests/test_tools/test_dist_train_test.py, whose gloo runs are for CPU machines)."""
import math
import re

import pytest
import torch

from helpers import cls_options, ddp_checkpoint, det_options, run, seg_options
from mmseq.testing import make_ade20k, make_coco, make_imagenet
from mmseq.utils import load_checkpoint_weights_only


pytestmark = [pytest.mark.cuda, pytest.mark.slow]


def run_on_gpus(cmd):
    """``helpers.run`` with the GPUs visible."""
    return run(cmd, cuda=True)


def _nproc():
    return torch.cuda.device_count()


def _per_rank_iters(n_images, batch):
    """Iterations per epoch on each rank (DefaultSampler pads to a multiple of the ranks)."""
    return math.ceil(math.ceil(n_images / _nproc()) / batch)


def _check_train(output, work_dir, ckpt_name):
    assert 'Distributed training: True' in output
    assert f'GPU number: {_nproc()}' in output
    assert "'backend': 'nccl'" in output
    # nothing of the CPU fallback (gloo, BN for SyncBN, bf16 autocast) ran
    assert 'CUDA is not available' not in output
    return ddp_checkpoint(work_dir, ckpt_name)


def test_segmentation_nccl(tmp_path):
    make_ade20k(str(tmp_path / 'ade'), n_train=8, n_val=4, size=(56, 70), num_classes=6)
    opts = seg_options(str(tmp_path / 'ade' / 'ADEChallengeData2016'))
    work = str(tmp_path / 'work')
    # the config's SyncBN runs as SyncBN here
    out = run_on_gpus(['bash', 'tools/dist_train.sh', 'configs/sem_fpn_seq2d_s_ade20k.py',
               str(_nproc()), '--work-dir', work, '--cfg-options', 'train_cfg.max_iters=4',
               'train_cfg.val_interval=4', 'default_hooks.checkpoint.interval=4',
               'default_hooks.logger.interval=1', 'randomness.seed=0', *opts])
    assert re.search(r'Iter\(train\) \[4/4\]', out)
    ckpt = _check_train(out, work, 'iter_4.pth')
    out = run_on_gpus(['bash', 'tools/dist_test.sh', 'configs/sem_fpn_seq2d_s_ade20k.py', ckpt,
               str(_nproc()), '--work-dir', str(tmp_path / 'test'), '--cfg-options', *opts])
    n = _per_rank_iters(4, 1)
    miou = re.findall(rf'Iter\(test\) \[{n}/{n}\].*?mIoU: ([0-9.]+)', out)
    assert len(miou) == 1 and 0.0 <= float(miou[0]) <= 100.0


def test_detection_nccl(tmp_path):
    make_coco(str(tmp_path / 'coco'), n_train=8, n_val=4, size=(60, 80), num_classes=3)
    opts = det_options(str(tmp_path / 'coco'))
    work = str(tmp_path / 'work')
    out = run_on_gpus(['bash', 'tools/dist_train.sh', 'configs/retinanet_seq2d_s_coco.py',
               str(_nproc()), '--work-dir', work, '--cfg-options', 'train_cfg.max_epochs=1',
               'default_hooks.logger.interval=1', 'randomness.seed=0', *opts])
    n = _per_rank_iters(8, 2)
    assert re.search(rf'Epoch\(train\) \[1\]\[{n}/{n}\]', out)
    ckpt = _check_train(out, work, 'epoch_1.pth')
    out = run_on_gpus(['bash', 'tools/dist_test.sh', 'configs/retinanet_seq2d_s_coco.py', ckpt,
               str(_nproc()), '--work-dir', str(tmp_path / 'test'), '--cfg-options', *opts])
    n = _per_rank_iters(4, 1)
    assert re.search(rf'Epoch\(test\) \[{n}/{n}\].*coco/bbox_mAP: [0-9.]+', out)


def test_classification_nccl(tmp_path):
    make_imagenet(str(tmp_path / 'imagenet'), num_classes=4, per_class=4, size=64,
                  val_per_class=2)
    opts = cls_options(str(tmp_path / 'imagenet'))
    work = str(tmp_path / 'work')
    out = run_on_gpus(['bash', 'tools/dist_train.sh', 'configs/seq2d_s_in1k.py', str(_nproc()),
               '--work-dir', work, '--cfg-options', 'train_cfg.max_epochs=1',
               'default_hooks.logger.interval=1', 'randomness.seed=0', *opts])
    # the recipe's AmpOptimWrapper (fp16, dynamic loss scaling) is kept on CUDA
    assert 'AutocastOptimWrapper' not in out
    n = _per_rank_iters(16, 4)
    assert re.search(rf'Epoch\(train\) \[1\]\[{n}/{n}\]', out)
    ckpt = _check_train(out, work, 'epoch_1.pth')
    assert 'loss_scaler' in load_checkpoint_weights_only(ckpt)['optimizer']
    out = run_on_gpus(['bash', 'tools/dist_test.sh', 'configs/seq2d_s_in1k.py', ckpt, str(_nproc()),
               '--work-dir', str(tmp_path / 'test'), '--cfg-options', *opts])
    n = _per_rank_iters(8, 4)
    top1 = re.findall(rf'Epoch\(test\) \[{n}/{n}\].*accuracy/top1: ([0-9.]+)', out)
    assert len(top1) == 1 and 0.0 <= float(top1[0]) <= 100.0
