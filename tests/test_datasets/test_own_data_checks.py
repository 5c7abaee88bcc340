"""A user's own data through the own-data templates (configs/*_custom.py): the mistakes people make are reported with
the file at fault, by the loading transform / data set during training and by
tools/misc/check_dataset.py before it (small generated files: the format is the point)."""
import json
import os
import os.path as osp
import subprocess
import sys

import mmcv
import numpy as np
import pytest

from helpers import REPO

SEG_TEMPLATE = 'configs/sem_fpn_seq2d_s_custom.py'
DET_TEMPLATE = 'configs/retinanet_seq2d_s_custom.py'


def check_dataset(config, *options):
    proc = subprocess.run(
        [sys.executable, 'tools/misc/check_dataset.py', config, *options], cwd=REPO,
        capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout


def image(h=42, w=56, seed=0):
    return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


def write_truncated(path, array):
    mmcv.imwrite(array, path)
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])


@pytest.fixture
def seg_root(tmp_path):
    """Own segmentation data (2 classes), each train sample but the first with one mistake."""
    root = tmp_path / 'seg'
    labels = np.zeros((42, 56), np.uint8)
    labels[10:20, 10:30] = 1
    cases = {
        'good': (image(), labels),
        'out_of_range': (image(), np.where(labels == 1, 7, 0).astype(np.uint8)),
        'wrong_size': (image(), labels[:30]),
        'colours': (image(), np.stack([labels * 255] * 3, -1)),
    }
    for split in ('train', 'val'):
        for name, (img, lab) in cases.items():
            if split == 'val' and name != 'good':
                continue
            mmcv.imwrite(img, str(root / 'img_dir' / split / f'{name}.jpg'))
            mmcv.imwrite(lab, str(root / 'ann_dir' / split / f'{name}.png'))
    write_truncated(str(root / 'img_dir' / 'train' / 'broken_image.jpg'), image())
    mmcv.imwrite(labels, str(root / 'ann_dir' / 'train' / 'broken_image.png'))
    mmcv.imwrite(image(), str(root / 'img_dir' / 'train' / 'broken_label.jpg'))
    write_truncated(str(root / 'ann_dir' / 'train' / 'broken_label.png'), labels)
    mmcv.imwrite(image(), str(root / 'img_dir' / 'train' / 'no_label.jpg'))
    return root


def seg_options(root):
    return ['--cfg-options', f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}',
            f'test_dataloader.dataset.data_root={root}']


def test_check_dataset_names_each_broken_segmentation_file(seg_root):
    code, out = check_dataset(SEG_TEMPLATE, *seg_options(seg_root))
    assert code == 1, out
    assert '[train] 7 samples, 6 with problems' in out, out
    train = str(seg_root / 'ann_dir' / 'train')
    expected = [
        f'{train}/out_of_range.png: label values 7 are outside the 2 classes',
        f'{train}/wrong_size.png: the label map is 30x56 (HxW) but its image',
        f'{train}/colours.png: the label map has 3 channels',
        f'{seg_root}/img_dir/train/broken_image.jpg',  # mmcv: failed to load image
        f'{train}/broken_label.png: cannot read this label map',
        f'{train}/no_label.png: cannot read this label map (FileNotFoundError',
    ]
    for line in expected:
        assert line in out, f'{line!r} missing from:\n{out}'
    assert '[val] 1 samples, 0 with problems; images with each class: background: 1, ' \
           'foreground: 1' in out, out


def test_clean_data_passes(seg_root):
    for name in ('out_of_range', 'wrong_size', 'colours', 'broken_image', 'broken_label',
                 'no_label'):
        (seg_root / 'img_dir' / 'train' / f'{name}.jpg').unlink()
    code, out = check_dataset(SEG_TEMPLATE, *seg_options(seg_root))
    assert code == 0, out
    assert 'check_dataset: every sample loads' in out


def test_training_pipeline_stops_on_a_bad_label_with_its_file(seg_root):
    """The same check runs inside training: the template's LoadSegLabels in the whole training
    pipeline, as the Runner's dataset calls it."""
    from mmengine.registry import DATASETS, init_default_scope

    from mmseq.utils import load_config
    cfg = load_config(osp.join(REPO, SEG_TEMPLATE), None)
    init_default_scope(cfg.default_scope)
    dataset = DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=str(seg_root)))
    names = [osp.basename(dataset.get_data_info(i)['img_path']) for i in range(len(dataset))]
    assert dataset.prepare_data(names.index('good.jpg'))['inputs'].shape[0] == 3
    with pytest.raises(ValueError, match=r'out_of_range\.png: label values 7 are outside'):
        dataset.prepare_data(names.index('out_of_range.jpg'))


def test_reduce_zero_label_and_16_bit_values_are_checked(tmp_path):
    from mmseq.datasets import LoadSegLabels
    path = str(tmp_path / 'label.png')
    labels = np.zeros((4, 4), np.uint16)
    labels[0, 0] = 256 + 1  # would wrap to 1 as uint8
    mmcv.imwrite(labels, path)
    with pytest.raises(ValueError, match='label values 257 are outside the 3 classes'):
        LoadSegLabels(num_classes=3)(dict(seg_map_path=path, seg_fields=[],
                                          reduce_zero_label=False))
    mmcv.imwrite(np.array([[0, 1], [3, 2]], np.uint8), path)  # 0 -> ignored, k -> k - 1
    out = LoadSegLabels(num_classes=3)(dict(seg_map_path=path, seg_fields=[],
                                            reduce_zero_label=True))
    assert out['gt_seg_map'].tolist() == [[255, 0], [2, 1]]
    mmcv.imwrite(np.array([[0, 1], [4, 2]], np.uint8), path)
    with pytest.raises(ValueError, match=r'label values 3 are outside.*after reduce_zero_label'):
        LoadSegLabels(num_classes=3)(dict(seg_map_path=path, seg_fields=[],
                                          reduce_zero_label=True))


def coco_file(path, categories, images, boxes_per_image=2):
    coco = dict(images=[], annotations=[], categories=[
        dict(id=i + 1, name=name) for i, name in enumerate(categories)])
    for k, (name, h, w) in enumerate(images):
        coco['images'].append(dict(id=k + 1, file_name=name, height=h, width=w))
        for j in range(boxes_per_image):
            coco['annotations'].append(dict(
                id=len(coco['annotations']) + 1, image_id=k + 1, category_id=j % 2 + 1,
                bbox=[5, 5, 10, 12], area=120, iscrowd=0))
    with open(path, 'w') as f:
        json.dump(coco, f)


@pytest.fixture
def det_root(tmp_path):
    root = tmp_path / 'det'
    (root / 'annotations').mkdir(parents=True)
    for split in ('train', 'val'):
        for name in ('a.jpg', 'b.jpg'):
            mmcv.imwrite(image(), str(root / 'img_dir' / split / name))
    # the file says b.jpg is 60x56, it is 42x56
    coco_file(root / 'annotations' / 'instances_train.json', ('cat', 'dog'),
              [('a.jpg', 42, 56), ('b.jpg', 60, 56)])
    coco_file(root / 'annotations' / 'instances_val.json', ('dog', 'cat'),
              [('a.jpg', 42, 56), ('b.jpg', 42, 56)])
    return root


def det_options(root, *extra):
    root = f'{root}/'
    return ['--cfg-options', f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}',
            f'test_dataloader.dataset.data_root={root}', *extra]


def test_check_dataset_reports_coco_mistakes(det_root):
    code, out = check_dataset(DET_TEMPLATE, *det_options(det_root))
    assert code == 1, out
    assert '[train] 2 samples, 1 with problems; objects of each class: cat: 1, dog: 1' in out
    assert (f'{det_root}/img_dir/train/b.jpg: the image is 42x56 (HxW) but the annotation file '
            'says 60x56') in out, out
    # val lists the categories in another order than the template's classes
    assert "instances_val.json: list the classes in the order of the category ids of this " \
           "file, ['dog', 'cat'], not ['cat', 'dog']" in out, out


def test_coco_class_missing_from_the_file(det_root):
    code, out = check_dataset(DET_TEMPLATE, '--splits', 'train', *det_options(
        det_root, "train_dataloader.dataset.metainfo.classes=['cat','bird']"))
    assert code == 1
    assert "classes ['bird'] are not categories of this file; its categories are " \
           "['cat', 'dog']" in out, out


def test_check_dataset_with_the_libraries_loaders(tmp_path):
    """The paper's ADE20K config loads labels with mmseg's LoadAnnotations, which checks
    nothing: the checker finds the same faults from what was loaded (values after
    reduce_zero_label against the 150 classes, the label map's size against its image)."""
    from mmseq.testing import make_ade20k
    ade = make_ade20k(str(tmp_path / 'ade'), n_train=4, n_val=1, size=(42, 56), num_classes=6)
    train = osp.join(ade['root'], 'annotations', 'training')
    names = sorted(os.listdir(train))
    labels = mmcv.imread(osp.join(train, names[0]), flag='unchanged')
    mmcv.imwrite(np.full_like(labels, 200), osp.join(train, names[1]))  # 199 after reduce
    mmcv.imwrite(labels[:30], osp.join(train, names[2]))
    write_truncated(osp.join(train, names[3]), labels)
    code, out = check_dataset('configs/sem_fpn_seq2d_s_ade20k.py', '--splits', 'train',
                              '--cfg-options', f'train_dataloader.dataset.data_root={ade["root"]}')
    assert code == 1, out
    assert '[train] 4 samples, 3 with problems' in out, out
    for line in [f'{train}/{names[1]}: label values 199 are outside the 150 classes '
                 '(0..149; 255 = ignored, after reduce_zero_label)',
                 f'{train}/{names[2]}: the label map is 30x56 (HxW) but its image',
                 f'(labels {train}/{names[3]})']:
        assert line in out, f'{line!r} missing from:\n{out}'


def test_check_dataset_boxes_with_mmdets_loader(det_root):
    """The paper's COCO config (mmdet's LoadAnnotations): a box outside its image."""
    path = det_root / 'annotations' / 'instances_train.json'
    coco = json.loads(path.read_text())
    coco['images'][1]['height'] = 42  # b.jpg's true size
    coco['annotations'][0]['bbox'] = [40, 30, 50, 20]  # x2 = 90 > 56
    path.write_text(json.dumps(coco))
    code, out = check_dataset('configs/retinanet_seq2d_s_coco.py', '--splits', 'train',
                              '--cfg-options', f'train_dataloader.dataset.data_root={det_root}/',
                              'train_dataloader.dataset.ann_file=annotations/instances_train.json',
                              'train_dataloader.dataset.data_prefix.img=img_dir/train/')
    assert code == 1, out
    assert f'{det_root}/img_dir/train/a.jpg: 1 boxes are empty or outside the 56x42 (WxH) ' \
           'image, e.g. (40.0, 30.0, 90.0, 50.0)' in out, out
