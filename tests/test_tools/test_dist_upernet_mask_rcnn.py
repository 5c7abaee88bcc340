"""2-process gloo training then testing of UperNet and Mask R-CNN through tools/dist_train.sh and
tools/dist_test.sh, on generated ADE20K / COCO data in the real layouts, with the tiny configs
(children of the real ones): mIoU, bbox and segm mAP. UperNet's multi-scale test through
mmseg's own tools/test.py --tta."""
import os.path as osp
import pickle
import re
import sys

import pytest
import torch

from helpers import config_file, data_options, ddp_checkpoint, library_tool, load_tool, run
from mmseq.testing import make_ade20k, make_coco

pytestmark = pytest.mark.slow


# The test runs after training are what matters here: no validation inside the training runs.
NO_VAL = 'train_cfg.val_begin=1000'


def test_upernet(tmp_path):
    ade = make_ade20k(str(tmp_path / 'ade'), n_train=8, n_val=4, size=(56, 70),
                      num_classes=6)['root']
    config = config_file('tiny_upernet_ade20k.py')
    opts = data_options('seg', ade)
    work = str(tmp_path / 'work')
    out = run(['bash', 'tools/dist_train.sh', config, '2', '--work-dir', work,
               '--cfg-options', NO_VAL, *opts])
    assert 'Distributed training: True' in out and 'GPU number: 2' in out
    assert re.search(r'Iter\(train\) \[4/4\].*decode\.loss_ce: [0-9.]+.*aux\.loss_ce', out)
    ckpt = ddp_checkpoint(work, 'iter_4.pth', iter=4)

    out = run(['bash', 'tools/dist_test.sh', config, ckpt, '2',
               '--work-dir', str(tmp_path / 'test'), '--cfg-options', *opts])
    assert f'Load checkpoint from {ckpt}' in out
    miou = re.findall(r'Iter\(test\) \[2/2\].*?mIoU: ([0-9.]+)', out)  # 4 images / 2 procs
    assert len(miou) == 1 and 0.0 <= float(miou[0]) <= 100.0


def test_upernet_mmseg_tta(tmp_path, monkeypatch, capfd):
    """mmseg's own tools/test.py --tta (its main(), in this process) on the tiny UperNet: the
    config's tta_model / tta_pipeline run (SegTTAModel, TestTimeAug) and it prints mIoU."""
    from mmseq.apis import init_model
    ade = make_ade20k(str(tmp_path / 'ade'), n_train=0, n_val=2, size=(56, 70),
                      num_classes=6)['root']
    config = config_file('tiny_upernet_ade20k.py')
    ckpt = str(tmp_path / 'tiny_upernet.pth')
    torch.save({'state_dict': init_model(config).state_dict(), 'meta': {}}, ckpt)
    work = str(tmp_path / 'tta')
    tool = load_tool(library_tool('mmseg', 'test.py'))
    monkeypatch.setattr(sys, 'argv', ['test.py', config, ckpt, '--tta', '--work-dir', work,
                                      '--cfg-options', *data_options('seg', ade)])
    tool.main()
    out = ''.join(capfd.readouterr())
    assert f'Load checkpoint from {ckpt}' in out
    miou = re.findall(r'Iter\(test\) \[2/2\].*?mIoU: ([0-9.]+)', out)
    assert len(miou) == 1 and 0.0 <= float(miou[0]) <= 100.0
    with open(osp.join(work, osp.basename(config))) as f:  # the config the runner ran
        dumped = f.read()
    assert "type='SegTTAModel'" in dumped and "type='TestTimeAug'" in dumped


def test_mask_rcnn(tmp_path):
    root = str(tmp_path / 'coco') + '/'
    make_coco(root, n_train=8, n_val=4, size=(60, 80), num_classes=3)
    config = config_file('tiny_mask_rcnn_coco.py')
    opts = data_options('det', root)
    work = str(tmp_path / 'work')
    out = run(['bash', 'tools/dist_train.sh', config, '2', '--work-dir', work,
               '--cfg-options', NO_VAL, *opts])
    assert 'Distributed training: True' in out and 'GPU number: 2' in out
    # 8 images / (2 procs x 2): the RPN, box and mask losses of the last iteration
    assert re.search(r'Epoch\(train\) \[1\]\[2/2\].*loss_rpn_cls.*loss_bbox.*loss_mask', out)
    ckpt = ddp_checkpoint(work, 'epoch_1.pth', epoch=1)

    preds = str(tmp_path / 'preds.pkl')
    out = run(['bash', 'tools/dist_test.sh', config, ckpt, '2', '--work-dir',
               str(tmp_path / 'test'), '--out', preds, '--cfg-options', *opts])
    # the metrics line of the test loop (4 images / 2 procs): box and mask mAP
    line = re.findall(r'Epoch\(test\) \[2/2\] .*coco/bbox_mAP: .*', out)
    assert len(line) == 1, out[-3000:]
    assert re.search(r'coco/bbox_mAP: [0-9.]+ ', line[0])
    assert re.search(r'coco/segm_mAP: [0-9.]+ ', line[0])
    assert 'Evaluating segm' in out
    with open(preds, 'rb') as f:  # written by this test
        results = pickle.load(f)
    assert sorted(r['img_id'] for r in results) == [9, 10, 11, 12]
    for r in results:
        inst = r['pred_instances']
        assert len(inst['bboxes']) > 0 and len(inst['masks']) == len(inst['bboxes'])
