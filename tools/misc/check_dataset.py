#!/usr/bin/env python
"""Read every sample of a config's data sets through the pipeline's loading steps and list what
is wrong, before a long job starts.

    python tools/misc/check_dataset.py CONFIG [--splits train val test] [--cfg-options ...]

Each problem is printed with the file at fault: an image or label map that cannot be read or
is truncated, a label map whose size differs from its image, label values outside the model's
classes (0 .. num_classes - 1 and the ignore index), boxes with a class outside them or outside
their image, an image whose size differs from the one its annotation file states, a model
whose num_classes differs from the data set's classes, and (with ``mmseq.CheckedCocoDataset``)
a COCO file whose categories disagree with ``classes``. These checks hold whatever loads the
data: mmseg's and mmdet's ``LoadAnnotations`` as well as ``mmseq.LoadSegLabels``. Exits with
status 1 when anything is wrong; otherwise prints per split the number of samples and of
labelled objects per class.
"""
import argparse
import collections
import copy
import sys

import numpy as np
from mmengine.config import DictAction
from mmengine.registry import DATASETS, init_default_scope
from mmengine.utils import ProgressBar

from mmseq.utils import load_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Check every sample of a config\'s data sets (loading steps only) and list '
        'the files at fault')
    parser.add_argument('config', help='config file')
    parser.add_argument('--splits', nargs='+', default=['train', 'val', 'test'],
                        choices=['train', 'val', 'test'],
                        help='which dataloaders to check (default: all three; a test split '
                        'equal to val is checked once)')
    parser.add_argument('--max-errors', type=int, default=20,
                        help='problems printed per split (all are counted)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, key=value')
    return parser.parse_args(argv)


def loading_steps(pipeline):
    """The transforms that read files (``Load*``), without the augmentations."""
    return [t for t in pipeline if str(t['type']).rsplit('.', 1)[-1].startswith('Load')]


def build_dataset(dataset_cfg):
    """The data set of a dataloader config with only its loading steps."""
    cfg = copy.deepcopy(dataset_cfg)
    inner = cfg
    while 'pipeline' not in inner and 'dataset' in inner:  # wrappers (RepeatDataset, ...)
        inner = inner['dataset']
    inner['pipeline'] = loading_steps(inner.get('pipeline', []))
    inner['serialize_data'] = False
    return DATASETS.build(cfg)


def model_classes(cfg):
    """(num_classes, ignore_index) of the config's model head, or (None, 255)."""
    model = cfg.get('model') or {}
    roi_head = model.get('roi_head') or {}
    for head in (model.get('decode_head'), model.get('bbox_head'), roi_head.get('bbox_head')):
        if isinstance(head, (list, tuple)):
            head = head[-1] if head else None
        if isinstance(head, dict) and 'num_classes' in head:
            return int(head['num_classes']), int(head.get('ignore_index', 255))
    return None, 255


def _values(array, limit=8):
    found = np.unique(array)
    shown = ', '.join(str(v) for v in found[:limit])
    return shown + (f' ... ({len(found)} values)' if len(found) > limit else '')


def label_problem(results, num_classes, ignore_index):
    """What is wrong with a loaded sample's labels, whatever transform loaded them."""
    shape = results.get('ori_shape') or results.get('img_shape')
    labels = results.get('gt_seg_map')
    if labels is not None:
        where = results.get('seg_map_path', results.get('img_path'))
        if shape is not None and tuple(labels.shape[:2]) != tuple(shape[:2]):
            return (f'{where}: the label map is {labels.shape[0]}x{labels.shape[1]} (HxW) but '
                    f'its image {results.get("img_path")} is {shape[0]}x{shape[1]}')
        if num_classes is not None:
            labels = np.asarray(labels).astype(np.int64)
            bad = (labels >= num_classes) & (labels != ignore_index) | (labels < 0)
            if bad.any():
                return (f'{where}: label values {_values(labels[bad])} are outside the '
                        f'{num_classes} classes (0..{num_classes - 1}; {ignore_index} = ignored'
                        f'{", after reduce_zero_label" if results.get("reduce_zero_label") else ""})')
    boxes = results.get('gt_bboxes')
    box_labels = results.get('gt_bboxes_labels')
    if boxes is not None and len(boxes):
        where = results.get('img_path')
        array = np.asarray(boxes.tensor if hasattr(boxes, 'tensor') else boxes, dtype=np.float64)
        if box_labels is not None and num_classes is not None:
            box_labels = np.asarray(box_labels)
            bad = (box_labels < 0) | (box_labels >= num_classes)
            if bad.any():
                return (f'{where}: box classes {_values(box_labels[bad])} are outside the '
                        f'{num_classes} classes (0..{num_classes - 1})')
        if shape is not None:
            height, width = shape[:2]
            outside = ((array[:, 0] < -1) | (array[:, 1] < -1) | (array[:, 2] > width + 1)
                       | (array[:, 3] > height + 1) | (array[:, 2] <= array[:, 0])
                       | (array[:, 3] <= array[:, 1]))
            if outside.any():
                x1, y1, x2, y2 = array[outside][0].round(1).tolist()
                return (f'{where}: {int(outside.sum())} boxes are empty or outside the '
                        f'{width}x{height} (WxH) image, e.g. ({x1}, {y1}, {x2}, {y2})')
    return None


def sample_problem(dataset, index, num_classes=None, ignore_index=255):
    """Load one sample; return (None, results) or (message naming the file, None)."""
    info = dataset.get_data_info(index)
    name = info.get('img_path', f'sample {index}')
    try:
        results = dataset.pipeline(copy.deepcopy(info))
    except Exception as error:  # report it, go on with the next sample
        message = str(error) or type(error).__name__
        if name in message:
            return message, None
        labels = info.get('seg_map_path')
        return (f'{name}{f" (labels {labels})" if labels else ""}: {message}'), None
    if results is None:
        return f'{name}: the pipeline dropped this sample', None
    height, width = info.get('height'), info.get('width')
    shape = results.get('ori_shape')
    if height and width and shape is not None and tuple(shape[:2]) != (height, width):
        return (f'{name}: the image is {shape[0]}x{shape[1]} (HxW) but the annotation file '
                f'says {height}x{width}'), None
    problem = label_problem(results, num_classes, ignore_index)
    return (problem, None) if problem else (None, results)


def count_labels(results, counts):
    if 'gt_seg_map' in results:
        for value in np.unique(results['gt_seg_map']):
            counts[int(value)] += 1
    for instance in results.get('instances', []):
        counts[int(instance['bbox_label'])] += 1


def check_split(split, dataset_cfg, max_errors, num_classes=None, ignore_index=255):
    try:
        dataset = build_dataset(dataset_cfg)
    except Exception as error:
        print(f'[{split}] cannot build the data set: {error}')
        return 1
    problems, counts = [], collections.Counter()
    classes = dataset.metainfo.get('classes') or ()
    if num_classes is not None and classes and len(classes) != num_classes:
        problems.append(f'the model has num_classes={num_classes} but the data set has '
                        f'{len(classes)} classes {tuple(classes)}: set the head\'s num_classes '
                        f'to {len(classes)}')
    progress = ProgressBar(len(dataset), file=sys.stderr)
    for index in range(len(dataset)):
        problem, results = sample_problem(dataset, index, num_classes, ignore_index)
        if problem:
            problems.append(problem)
        else:
            count_labels(results, counts)
        progress.update()
    sys.stderr.write('\n')
    unit = 'objects of' if 'instances' in dataset.get_data_info(0) else 'images with'
    found = ', '.join(f'{classes[k] if k < len(classes) else k}: {n}'
                      for k, n in sorted(counts.items()))
    print(f'[{split}] {len(dataset)} samples, {len(problems)} with problems; {unit} each '
          f'class: {found or "none"}')
    for problem in problems[:max_errors]:
        print(f'  {problem}')
    if len(problems) > max_errors:
        print(f'  ... and {len(problems) - max_errors} more')
    return len(problems)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    init_default_scope(cfg.get('default_scope'))
    num_classes, ignore_index = model_classes(cfg)
    checked, total = [], 0
    for split in args.splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            continue
        if any(loader.dataset == other for other in checked):
            print(f'[{split}] the same data set as above')
            continue
        checked.append(loader.dataset)
        total += check_split(split, loader.dataset, args.max_errors, num_classes, ignore_index)
    if not checked:
        sys.exit(f'{args.config}: no dataloader among {args.splits}')
    if total:
        sys.exit(f'check_dataset: {total} problems (listed above)')
    print('check_dataset: every sample loads')


if __name__ == '__main__':
    main()
