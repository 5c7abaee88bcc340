"""Small generated data sets in the exact on-disk layouts of ImageNet, ADE20K and COCO.

Each image is noise with shapes (rectangles, ellipses) filled with a colour that belongs to
their class, so the labels can be learnt: the class is the colour. The files are written in
the layouts the real data sets have and that mmpretrain's ``ImageNet``, mmseg's
``ADE20KDataset`` and mmdet's ``CocoDataset`` read, so configs only change ``data_root``.

Everything is deterministic for a given ``seed``.
"""
import colorsys
import json
import os
import os.path as osp
from typing import List, Sequence, Tuple, Union

import numpy as np
from PIL import Image

SizeType = Union[int, Tuple[int, int]]

# COCO 2017's 80 detection categories: (id, name) per supercategory. The ids run 1..90 with
# gaps, as in instances_*2017.json; the names are the ones mmdet's CocoDataset looks up.
_COCO_SUPERCATEGORIES = [
    ('person', ['person']),
    ('vehicle', ['bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat']),
    ('outdoor', ['traffic light', 'fire hydrant', 'stop sign', 'parking meter', 'bench']),
    ('animal', ['bird', 'cat', 'dog', 'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra',
                'giraffe']),
    ('accessory', ['backpack', 'umbrella', 'handbag', 'tie', 'suitcase']),
    ('sports', ['frisbee', 'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat',
                'baseball glove', 'skateboard', 'surfboard', 'tennis racket']),
    ('kitchen', ['bottle', 'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl']),
    ('food', ['banana', 'apple', 'sandwich', 'orange', 'broccoli', 'carrot', 'hot dog', 'pizza',
              'donut', 'cake']),
    ('furniture', ['chair', 'couch', 'potted plant', 'bed', 'dining table', 'toilet']),
    ('electronic', ['tv', 'laptop', 'mouse', 'remote', 'keyboard', 'cell phone']),
    ('appliance', ['microwave', 'oven', 'toaster', 'sink', 'refrigerator']),
    ('indoor', ['book', 'clock', 'vase', 'scissors', 'teddy bear', 'hair drier', 'toothbrush']),
]
# ids that COCO reserves but does not use for detection
_COCO_UNUSED_IDS = {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}


def coco_categories() -> List[dict]:
    """The 80 ``categories`` entries of COCO 2017 (``id``, ``name``, ``supercategory``)."""
    ids = [i for i in range(1, 91) if i not in _COCO_UNUSED_IDS]
    names = [(sup, name) for sup, members in _COCO_SUPERCATEGORIES for name in members]
    assert len(ids) == len(names) == 80
    return [dict(id=i, name=name, supercategory=sup) for i, (sup, name) in zip(ids, names)]


def class_colour(index: int) -> np.ndarray:
    """A saturated RGB colour for class ``index``; neighbouring indices differ in hue."""
    hue = (index * 0.618033988749895) % 1.0
    value = 0.95 if index % 2 == 0 else 0.7
    return np.array(colorsys.hsv_to_rgb(hue, 0.9, value)) * 255.0


def _hw(size: SizeType) -> Tuple[int, int]:
    if isinstance(size, int):
        return size, size
    if len(size) != 2:
        raise ValueError(f'size must be an int or (height, width), got {size}')
    return int(size[0]), int(size[1])


def _noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Grey background noise, darker than the class colours."""
    base = rng.uniform(40, 110)
    return np.clip(base + rng.normal(0, 25, size=(h, w, 3)), 0, 255)


def _shape_mask(rng: np.random.Generator, h: int, w: int,
                min_frac: float = 0.2, max_frac: float = 0.5):
    """A random rectangle or ellipse: boolean mask and its box (x, y, w, h), in pixels."""
    bh = max(2, int(h * rng.uniform(min_frac, max_frac)))
    bw = max(2, int(w * rng.uniform(min_frac, max_frac)))
    y0 = int(rng.integers(0, h - bh + 1))
    x0 = int(rng.integers(0, w - bw + 1))
    yy, xx = np.mgrid[0:h, 0:w]
    if rng.random() < 0.5:
        mask = (yy >= y0) & (yy < y0 + bh) & (xx >= x0) & (xx < x0 + bw)
    else:
        cy, cx = y0 + (bh - 1) / 2, x0 + (bw - 1) / 2
        mask = ((yy - cy) / (bh / 2))**2 + ((xx - cx) / (bw / 2))**2 <= 1.0
    ys, xs = np.nonzero(mask)
    box = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
           int(ys.max() - ys.min() + 1))
    return mask, box


def _paint(rng: np.random.Generator, img: np.ndarray, mask: np.ndarray, label: int) -> None:
    colour = class_colour(label)
    img[mask] = np.clip(colour + rng.normal(0, 12, size=(int(mask.sum()), 3)), 0, 255)


def _save_jpg(img: np.ndarray, path: str) -> None:
    Image.fromarray(img.astype(np.uint8)).save(path, quality=95)


def make_imagenet(root: str,
                  num_classes: int = 10,
                  per_class: int = 10,
                  size: SizeType = 64,
                  val_per_class: int = None,
                  seed: int = 0) -> dict:
    """Write an ImageNet-layout folder, as mmpretrain's ``ImageNet`` reads it::

        root/train/<wnid>/<wnid>_<k>.JPEG      one folder per class
        root/val/ILSVRC2012_val_<k>.JPEG        flat, labels in meta/val.txt
        root/meta/train.txt                     "<wnid>/<wnid>_<k>.JPEG <label>" per line
        root/meta/val.txt                       "ILSVRC2012_val_<k>.JPEG <label>" per line

    Class ``c`` (wnid ``n{c:08d}``, label ``c``, the sorted order of the wnids) is one shape
    in the class's colour on noise. Returns ``dict(train=N, val=M, classes=[wnids])``.
    """
    if num_classes < 1 or per_class < 1:
        raise ValueError('num_classes and per_class must be positive')
    val_per_class = max(1, per_class // 4) if val_per_class is None else val_per_class
    h, w = _hw(size)
    rng = np.random.default_rng(seed)
    wnids = [f'n{c:08d}' for c in range(num_classes)]
    os.makedirs(osp.join(root, 'meta'), exist_ok=True)
    os.makedirs(osp.join(root, 'val'), exist_ok=True)
    train_lines, val_lines = [], []
    for label, wnid in enumerate(wnids):
        os.makedirs(osp.join(root, 'train', wnid), exist_ok=True)
        for k in range(per_class):
            img = _noise(rng, h, w)
            _paint(rng, img, _shape_mask(rng, h, w, 0.35, 0.8)[0], label)
            rel = f'{wnid}/{wnid}_{k}.JPEG'
            _save_jpg(img, osp.join(root, 'train', rel))
            train_lines.append(f'{rel} {label}')
    val_index = 1
    for label in range(num_classes):
        for _ in range(val_per_class):
            img = _noise(rng, h, w)
            _paint(rng, img, _shape_mask(rng, h, w, 0.35, 0.8)[0], label)
            name = f'ILSVRC2012_val_{val_index:08d}.JPEG'
            _save_jpg(img, osp.join(root, 'val', name))
            val_lines.append(f'{name} {label}')
            val_index += 1
    for split, lines in (('train', train_lines), ('val', val_lines)):
        with open(osp.join(root, 'meta', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return dict(train=len(train_lines), val=len(val_lines), classes=wnids)


def make_ade20k(root: str,
                n_train: int = 40,
                n_val: int = 8,
                size: SizeType = (256, 320),
                num_classes: int = 8,
                seed: int = 0) -> dict:
    """Write ADE20K (SceneParsing) in its release layout, as mmseg's ``ADE20KDataset`` reads it::

        root/ADEChallengeData2016/images/{training,validation}/ADE_{train,val}_<8 digits>.jpg
        root/ADEChallengeData2016/annotations/{training,validation}/<same stem>.png

    Annotations are 8-bit single-channel PNGs in ADE20K's encoding: 0 = "other" (ignored;
    ``reduce_zero_label=True`` maps it to 255 and classes 1..150 to 0..149). Each image has a
    background class (the whole image) and 1-3 shapes of other classes, all drawn from
    classes ``1..num_classes``, plus a small patch of clutter labelled 0.
    Returns ``dict(train=n_train, val=n_val, root=<ADEChallengeData2016 path>)``.
    """
    if not 2 <= num_classes <= 150:
        raise ValueError(f'num_classes must be in [2, 150] (ADE20K has 150), got {num_classes}')
    h, w = _hw(size)
    rng = np.random.default_rng(seed)
    ade = osp.join(root, 'ADEChallengeData2016')
    for split, prefix, count in (('training', 'ADE_train', n_train),
                                 ('validation', 'ADE_val', n_val)):
        img_dir = osp.join(ade, 'images', split)
        ann_dir = osp.join(ade, 'annotations', split)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        for k in range(1, count + 1):
            img = _noise(rng, h, w)
            seg = np.zeros((h, w), np.uint8)
            labels = rng.choice(np.arange(1, num_classes + 1), size=int(rng.integers(2, 5)),
                                replace=False)
            _paint(rng, img, np.ones((h, w), bool), int(labels[0]))
            seg[:] = labels[0]
            for label in labels[1:]:
                mask, _ = _shape_mask(rng, h, w)
                _paint(rng, img, mask, int(label))
                seg[mask] = label
            clutter, _ = _shape_mask(rng, h, w, 0.05, 0.15)
            img[clutter] = rng.uniform(0, 255, size=(int(clutter.sum()), 3))
            seg[clutter] = 0
            stem = f'{prefix}_{k:08d}'
            _save_jpg(img, osp.join(img_dir, stem + '.jpg'))
            Image.fromarray(seg, mode='L').save(osp.join(ann_dir, stem + '.png'))
    return dict(train=n_train, val=n_val, root=ade)


def _polygon(mask_box: Tuple[int, int, int, int], ellipse: bool) -> List[float]:
    x, y, bw, bh = mask_box
    if not ellipse:
        return [x, y, x + bw, y, x + bw, y + bh, x, y + bh]
    t = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    cx, cy = x + bw / 2, y + bh / 2
    pts = np.stack([cx + bw / 2 * np.cos(t), cy + bh / 2 * np.sin(t)], 1)
    return [round(float(v), 2) for v in pts.reshape(-1)]


def _polygon_area(poly: Sequence[float]) -> float:
    xs, ys = np.asarray(poly[0::2]), np.asarray(poly[1::2])
    return float(0.5 * abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1))))


def make_coco(root: str,
              n_train: int = 24,
              n_val: int = 8,
              size: SizeType = (240, 320),
              num_classes: int = 4,
              seed: int = 0) -> dict:
    """Write COCO 2017 detection in its release layout, as mmdet's ``CocoDataset`` reads it::

        root/train2017/<12-digit image id>.jpg
        root/val2017/<12-digit image id>.jpg
        root/annotations/instances_train2017.json
        root/annotations/instances_val2017.json

    The json files carry ``info``, ``licenses``, ``images`` (id, file_name, height, width),
    all 80 ``categories`` with COCO's ids (1..90 with gaps) and ``annotations`` with ``bbox``
    ([x, y, w, h]), ``area``, ``iscrowd`` = 0, ``segmentation`` (a polygon) and
    ``category_id``. Objects (1-3 per image) use the first ``num_classes`` categories, each
    drawn as a shape in its class's colour.
    Returns ``dict(train=n_train, val=n_val, annotations={'train': A, 'val': B})``.
    """
    if not 1 <= num_classes <= 80:
        raise ValueError(f'num_classes must be in [1, 80] (COCO has 80), got {num_classes}')
    h, w = _hw(size)
    rng = np.random.default_rng(seed)
    categories = coco_categories()
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    image_id, ann_id = 1, 1
    counts = {}
    for split, count in (('train', n_train), ('val', n_val)):
        img_dir = osp.join(root, f'{split}2017')
        os.makedirs(img_dir, exist_ok=True)
        images, annotations = [], []
        for _ in range(count):
            img = _noise(rng, h, w)
            file_name = f'{image_id:012d}.jpg'
            for _ in range(int(rng.integers(1, 4))):
                cat_index = int(rng.integers(0, num_classes))
                ellipse = rng.random() < 0.5
                bh = int(h * rng.uniform(0.2, 0.5))
                bw = int(w * rng.uniform(0.2, 0.5))
                y0, x0 = int(rng.integers(0, h - bh)), int(rng.integers(0, w - bw))
                yy, xx = np.mgrid[0:h, 0:w]
                if ellipse:
                    mask = (((yy - y0 - bh / 2) / (bh / 2))**2 +
                            ((xx - x0 - bw / 2) / (bw / 2))**2) <= 1.0
                else:
                    mask = (yy >= y0) & (yy < y0 + bh) & (xx >= x0) & (xx < x0 + bw)
                _paint(rng, img, mask, cat_index)
                poly = _polygon((x0, y0, bw, bh), ellipse)
                annotations.append(dict(
                    id=ann_id,
                    image_id=image_id,
                    category_id=categories[cat_index]['id'],
                    bbox=[float(x0), float(y0), float(bw), float(bh)],
                    area=_polygon_area(poly),
                    iscrowd=0,
                    segmentation=[poly]))
                ann_id += 1
            _save_jpg(img, osp.join(img_dir, file_name))
            images.append(dict(id=image_id, file_name=file_name, height=h, width=w,
                               license=1))
            image_id += 1
        data = dict(
            info=dict(description='mmseq generated data in the COCO 2017 layout',
                      version='1.0', year=2017),
            licenses=[dict(id=1, name='generated', url='')],
            images=images,
            annotations=annotations,
            categories=categories)
        with open(osp.join(root, 'annotations', f'instances_{split}2017.json'), 'w') as f:
            json.dump(data, f)
        counts[split] = len(annotations)
    return dict(train=n_train, val=n_val, annotations=counts)
