#!/usr/bin/env python
"""Read every sample of a config's data sets through the pipeline's loading steps and list what
is wrong, before a long job starts.

    python tools/misc/check_dataset.py CONFIG [--splits train val test] [--cfg-options ...]

Each problem is printed with the file at fault: an image or label map that cannot be read or
is truncated, a label map whose size differs from its image, label values outside the classes
(with ``mmseq.LoadSegLabels`` in the pipeline, as the own-data templates configs/*_custom.py have it), a COCO file
whose categories disagree with ``classes`` (with ``mmseq.CheckedCocoDataset``), an image whose
size differs from the one its annotation file states. Exits with status 1 when anything is
wrong; otherwise prints per split the number of samples and of labelled objects per class.
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


def sample_problem(dataset, index):
    """Load one sample; return (None, results) or (message naming the file, None)."""
    info = dataset.get_data_info(index)
    name = info.get('img_path', f'sample {index}')
    try:
        results = dataset.pipeline(copy.deepcopy(info))
    except Exception as error:  # report it, go on with the next sample
        message = str(error) or type(error).__name__
        return (message if name in message else f'{name}: {message}'), None
    if results is None:
        return f'{name}: the pipeline dropped this sample', None
    height, width = info.get('height'), info.get('width')
    shape = results.get('ori_shape')
    if height and width and shape is not None and tuple(shape[:2]) != (height, width):
        return (f'{name}: the image is {shape[0]}x{shape[1]} (HxW) but the annotation file '
                f'says {height}x{width}'), None
    return None, results


def count_labels(results, counts):
    if 'gt_seg_map' in results:
        for value in np.unique(results['gt_seg_map']):
            counts[int(value)] += 1
    for instance in results.get('instances', []):
        counts[int(instance['bbox_label'])] += 1


def check_split(split, dataset_cfg, max_errors):
    try:
        dataset = build_dataset(dataset_cfg)
    except Exception as error:
        print(f'[{split}] cannot build the data set: {error}')
        return 1
    problems, counts = [], collections.Counter()
    progress = ProgressBar(len(dataset), file=sys.stderr)
    for index in range(len(dataset)):
        problem, results = sample_problem(dataset, index)
        if problem:
            problems.append(problem)
        else:
            count_labels(results, counts)
        progress.update()
    sys.stderr.write('\n')
    classes = dataset.metainfo.get('classes') or ()
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
    checked, total = [], 0
    for split in args.splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            continue
        if any(loader.dataset == other for other in checked):
            print(f'[{split}] the same data set as above')
            continue
        checked.append(loader.dataset)
        total += check_split(split, loader.dataset, args.max_errors)
    if not checked:
        sys.exit(f'{args.config}: no dataloader among {args.splits}')
    if total:
        sys.exit(f'check_dataset: {total} samples with problems')
    print('check_dataset: every sample loads')


if __name__ == '__main__':
    main()
