"""tools/test.py's --tta and --show-dir (as mmseg's and mmdet's test tools have them) and an
http:// checkpoint, with the tiny configs on generated data: UperNet's multi-scale + flip test
from the config's tta_model / tta_pipeline, every test image drawn (ground truth beside the
prediction) for segmentation, detection under tools/dist_test.sh (the images of both
processes) and classification."""
import os.path as osp
import re
import sys

import mmcv
import pytest
import torch

from helpers import config_file, data_options, load_tool, run, serve_folder, url_env
from mmseq.apis import init_model
from mmseq.testing import make_ade20k, make_coco, make_imagenet

pytestmark = pytest.mark.slow


def _checkpoint(config, path):
    torch.manual_seed(0)
    torch.save({'state_dict': init_model(config).state_dict(), 'meta': {}}, path)
    return str(path)


def _drawn(show_dir, images):
    """The files of --show-dir, one per test image, each the image's width twice (ground
    truth left, prediction right)."""
    names = {osp.splitext(osp.basename(p))[0] + '.png': p for p in images}
    assert sorted(f.name for f in show_dir.iterdir()) == sorted(names)
    for name, src in names.items():
        h, w = mmcv.imread(src).shape[:2]
        drawn = mmcv.imread(str(show_dir / name))
        assert drawn.shape == (h, 2 * w, 3), name
        assert not (drawn[:, :w] == drawn[:, w:]).all()  # the two halves differ


def test_help_lists_tta_and_show_dir():
    out = ' '.join(run([sys.executable, 'tools/test.py', '--help']).split())
    assert '--tta' in out and 'tta_pipeline' in out
    assert '--show-dir DIR' in out and 'ground truth beside prediction' in out


@pytest.mark.parametrize('config', ['tiny_retinanet_coco.py', 'tiny_seq2d_in1k.py'])
def test_tta_without_tta_config_is_a_clear_error(tmp_path, config):
    tool = load_tool('tools/test.py')
    ckpt = tmp_path / 'x.pth'
    ckpt.write_bytes(b'')
    with pytest.raises(SystemExit, match=r'--tta: .* defines no tta_model and no tta_pipeline'):
        tool.main([config_file(config), str(ckpt), '--tta', '--work-dir', str(tmp_path)])


def test_segmentation_tta_show_dir_from_url(tmp_path):
    """--tta on the tiny UperNet (SegTTAModel over 6 scales x 2 flips), --show-dir, and the
    checkpoint from an http:// URL."""
    ade = make_ade20k(str(tmp_path / 'ade'), n_train=0, n_val=2, size=(56, 70),
                      num_classes=6)['root']
    config = config_file('tiny_upernet_ade20k.py')
    served = tmp_path / 'served'
    served.mkdir()
    _checkpoint(config, served / 'upernet.pth')
    work, show = tmp_path / 'work', tmp_path / 'show'
    with serve_folder(str(served)) as server:
        out = run([sys.executable, 'tools/test.py', config, server.url('upernet.pth'), '--tta',
                   '--show-dir', str(show), '--work-dir', str(work),
                   '--cfg-options', *data_options('seg', ade)],
                  **url_env(tmp_path / 'torch_home'))
    assert server.requests == ['/upernet.pth']
    miou = re.findall(r'Iter\(test\) \[2/2\].*?mIoU: ([0-9.]+)', out)
    assert len(miou) == 1 and 0.0 <= float(miou[0]) <= 100.0
    text = (work / osp.basename(config)).read_text()  # the config the Runner ran
    assert "type='SegTTAModel'" in text and "type='TestTimeAug'" in text
    _drawn(show, [str(p) for p in (tmp_path / 'ade').rglob('images/validation/*.jpg')])


def test_detection_show_dir_under_dist_test(tmp_path):
    """3 validation images on 2 processes, without rounding up (2 test iterations, 1): all 3
    drawn (the first process draws the second's too; the libraries' own hooks would leave them
    out), and no process waits for another."""
    root = str(tmp_path / 'coco') + '/'
    make_coco(root, n_train=0, n_val=3, size=(60, 80), num_classes=3)
    config = config_file('tiny_retinanet_coco.py')
    ckpt = _checkpoint(config, tmp_path / 'retinanet.pth')
    show = tmp_path / 'show'
    out = run(['bash', 'tools/dist_test.sh', config, ckpt, '2', '--show-dir', str(show),
               '--work-dir', str(tmp_path / 'work'), '--cfg-options',
               'test_dataloader.sampler.round_up=False', *data_options('det', root)])
    assert re.search(r'Epoch\(test\) \[2/2\].*coco/bbox_mAP: [0-9.]+', out)
    _drawn(show, [str(p) for p in (tmp_path / 'coco' / 'val2017').glob('*.jpg')])


def test_classification_show_dir(tmp_path, capsys):
    root = str(tmp_path / 'imagenet')
    make_imagenet(root, num_classes=4, per_class=1, val_per_class=1, size=64)
    config = config_file('tiny_seq2d_in1k.py')
    ckpt = _checkpoint(config, tmp_path / 'cls.pth')
    show = tmp_path / 'show'
    load_tool('tools/test.py').main([config, ckpt, '--show-dir', str(show), '--work-dir',
                                     str(tmp_path / 'work'), '--cfg-options',
                                     *data_options('cls', root)])
    assert 'accuracy/top1' in capsys.readouterr().out
    drawn = sorted(show.iterdir())
    assert len(drawn) == 4 and all(mmcv.imread(str(p)).ndim == 3 for p in drawn)
