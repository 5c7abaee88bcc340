"""Generated data sets load with the real dataset classes and carry the labels they claim."""
import json
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmseq.testing import (class_colour, coco_categories, make_ade20k, make_coco,
                           make_imagenet)


def test_coco_categories_are_cocos():
    from mmdet.datasets import CocoDataset
    cats = coco_categories()
    ids = [c['id'] for c in cats]
    assert len(cats) == 80 and len(set(ids)) == 80
    assert ids[0] == 1 and ids[-1] == 90 and 12 not in ids and 83 not in ids
    # in id order, the names are exactly mmdet's class tuple
    assert tuple(c['name'] for c in cats) == CocoDataset.METAINFO['classes']


def test_imagenet_layout_loads_with_mmpretrain(tmp_path):
    from mmpretrain.datasets import ImageNet
    info = make_imagenet(str(tmp_path), num_classes=3, per_class=4, size=(40, 48),
                         val_per_class=2)
    assert info == dict(train=12, val=6, classes=['n00000000', 'n00000001', 'n00000002'])
    assert osp.isfile(tmp_path / 'train' / 'n00000001' / 'n00000001_3.JPEG')
    assert osp.isfile(tmp_path / 'val' / 'ILSVRC2012_val_00000006.JPEG')

    train = ImageNet(data_root=str(tmp_path), split='train', pipeline=[])
    val = ImageNet(data_root=str(tmp_path), split='val', pipeline=[])
    assert len(train) == 12 and len(val) == 6
    labels = [train.get_data_info(i)['gt_label'] for i in range(len(train))]
    assert sorted(labels) == [0] * 4 + [1] * 4 + [2] * 4
    for i in range(len(train)):
        item = train.get_data_info(i)
        # the label in meta/train.txt is the class folder's index
        wnid = osp.basename(osp.dirname(item['img_path']))
        assert int(wnid[1:]) == item['gt_label']
    # labels are learnable: the mean colour of the brightest pixels is the class colour
    for i in range(len(val)):
        item = val.get_data_info(i)
        img = np.asarray(Image.open(item['img_path']).convert('RGB'), np.float32)
        assert img.shape == (40, 48, 3)
        bright = img[img.sum(-1) > np.percentile(img.sum(-1), 85)].mean(0)
        dists = [np.abs(bright - class_colour(c)).mean() for c in range(3)]
        assert int(np.argmin(dists)) == item['gt_label']
    # the folder layout without meta files gives the same classes (mmpretrain scans folders)
    scanned = ImageNet(data_root=str(tmp_path), data_prefix='train', ann_file='', pipeline=[],
                       metainfo=dict(classes=info['classes']))
    assert len(scanned) == 12


def test_ade20k_layout_loads_with_mmseg(tmp_path):
    from mmseg.datasets import ADE20KDataset
    from mmseg.datasets.transforms import LoadAnnotations
    info = make_ade20k(str(tmp_path), n_train=3, n_val=2, size=(48, 64), num_classes=5)
    ade = tmp_path / 'ADEChallengeData2016'
    assert info['root'] == str(ade)
    assert osp.isfile(ade / 'images' / 'training' / 'ADE_train_00000003.jpg')
    assert osp.isfile(ade / 'annotations' / 'validation' / 'ADE_val_00000002.png')

    for split, n in (('training', 3), ('validation', 2)):
        ds = ADE20KDataset(
            data_root=str(ade),
            data_prefix=dict(img_path=f'images/{split}', seg_map_path=f'annotations/{split}'),
            pipeline=[])
        assert len(ds) == n and ds.reduce_zero_label
        for i in range(n):
            item = ds.get_data_info(i)
            raw = np.asarray(Image.open(item['seg_map_path']))
            assert raw.dtype == np.uint8 and raw.shape == (48, 64)
            assert set(np.unique(raw)) <= set(range(0, 6)) and 0 in raw
            # mmseg's own loader: 0 ("other") -> 255 (ignored), k -> k - 1
            results = LoadAnnotations(reduce_zero_label=True)(dict(item, seg_fields=[]))
            seg = results['gt_seg_map']
            np.testing.assert_array_equal(seg == 255, raw == 0)
            np.testing.assert_array_equal(seg[raw > 0], raw[raw > 0] - 1)


def test_coco_layout_loads_with_mmdet(tmp_path):
    from mmdet.datasets import CocoDataset
    info = make_coco(str(tmp_path), n_train=4, n_val=3, size=(60, 80), num_classes=5)
    ann = json.load(open(tmp_path / 'annotations' / 'instances_val2017.json'))
    assert set(ann) >= {'images', 'annotations', 'categories', 'info', 'licenses'}
    assert len(ann['categories']) == 80
    assert info['annotations']['val'] == len(ann['annotations'])
    for a in ann['annotations']:
        assert set(a) >= {'id', 'image_id', 'category_id', 'bbox', 'area', 'iscrowd',
                          'segmentation'}
        x, y, w, h = a['bbox']
        assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= 80 and y + h <= 60
        assert 0 < a['area'] <= w * h + 1e-6 and a['iscrowd'] == 0

    for split, n in (('train', 4), ('val', 3)):
        ds = CocoDataset(
            data_root=str(tmp_path),
            ann_file=f'annotations/instances_{split}2017.json',
            data_prefix=dict(img=f'{split}2017/'),
            test_mode=split == 'val',
            pipeline=[])
        assert len(ds) == n
        raw = json.load(open(tmp_path / 'annotations' / f'instances_{split}2017.json'))
        cat_ids = [c['id'] for c in coco_categories()]
        for i in range(n):
            item = ds.get_data_info(i)
            assert osp.isfile(item['img_path']) and (item['height'], item['width']) == (60, 80)
            expected = [a for a in raw['annotations'] if a['image_id'] == item['img_id']]
            assert len(item['instances']) == len(expected) >= 1
            for inst, a in zip(item['instances'], expected):
                # mmdet maps COCO's category id to its contiguous label
                assert inst['bbox_label'] == cat_ids.index(a['category_id']) < 5
                np.testing.assert_allclose(inst['bbox'], [a['bbox'][0], a['bbox'][1],
                                                          a['bbox'][0] + a['bbox'][2],
                                                          a['bbox'][1] + a['bbox'][3]])


def test_cli_writes_each_layout(tmp_path, repo_root):
    import importlib.util
    script = osp.join(repo_root, 'tools', 'misc', 'make_synthetic_data.py')
    spec = importlib.util.spec_from_file_location('make_synthetic_data', script)
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    cli.main(['imagenet', str(tmp_path / 'in'), '--num-classes', '2', '--per-class', '2',
              '--size', '32'])
    cli.main(['ade20k', str(tmp_path / 'ade'), '--num-train', '2', '--num-val', '1',
              '--size', '32x40'])
    cli.main(['coco', str(tmp_path / 'coco'), '--num-train', '2', '--num-val', '1'])
    assert osp.isfile(tmp_path / 'in' / 'meta' / 'val.txt')
    img = Image.open(tmp_path / 'ade' / 'ADEChallengeData2016' / 'images' / 'training' /
                     'ADE_train_00000002.jpg')
    assert img.size == (40, 32)
    assert osp.isfile(tmp_path / 'coco' / 'annotations' / 'instances_train2017.json')
    with pytest.raises(SystemExit):
        cli.main(['cityscapes', str(tmp_path / 'x')])
