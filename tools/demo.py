#!/usr/bin/env python
"""Run a segmentor or a detector (any mmseq config) on one image and save a visualisation.

    python tools/demo.py IMAGE CONFIG CHECKPOINT --out out.png [--device cpu] [--score-thr 0.3]

Segmentation draws the predicted classes over the image (mmseg's SegLocalVisualizer),
detection draws the boxes scoring at least --score-thr (mmdet's DetLocalVisualizer).
"""
import argparse
import os
import os.path as osp

import mmcv
from mmengine.registry import DATASETS, init_default_scope

from mmseq.apis import inference_model, init_model


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('image', help='image file')
    parser.add_argument('config', help='segmentation or detection config file')
    parser.add_argument('checkpoint', help='checkpoint of that config (e.g. from tools/train.py): '
                        'a file or an http(s):// URL')
    parser.add_argument('--out', required=True, help='where to write the visualisation (png)')
    parser.add_argument('--device', default='cpu', help="e.g. 'cpu' or 'cuda:0'")
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='detection: lowest score of a drawn box')
    parser.add_argument('--opacity', type=float, default=0.5,
                        help='segmentation: opacity of the class colours (0..1]')
    parser.add_argument('--cfg-options', nargs='+', default=None, metavar='KEY=VALUE',
                        help='config overrides, e.g. model.test_cfg.score_thr=0.01')
    return parser.parse_args(argv)


def parse_cfg_options(items):
    if not items:
        return None
    from mmengine.config import DictAction
    namespace = argparse.Namespace()
    DictAction(option_strings=[], dest='cfg_options')(None, namespace, items)
    return namespace.cfg_options


def dataset_meta_of(model):
    """Class names and palette: from the checkpoint if it recorded them, else from the
    dataset class the config evaluates on."""
    meta = getattr(model, 'dataset_meta', None)
    if meta and meta.get('classes'):
        return meta
    dataset_type = model.cfg.test_dataloader.dataset.type
    with DATASETS.switch_scope_and_registry(model.cfg.get('default_scope')) as registry:
        dataset_cls = registry.get(dataset_type)
    if dataset_cls is None:
        raise SystemExit(f'cannot find dataset {dataset_type!r} for class names')
    return dict(dataset_cls.METAINFO)


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.image):
        raise SystemExit(f'no such image: {args.image}')
    model = init_model(args.config, args.checkpoint, device=args.device,
                       cfg_options=parse_cfg_options(args.cfg_options))
    scope = model.cfg.get('default_scope')
    init_default_scope(scope)
    result = inference_model(model, args.image)
    image = mmcv.imread(args.image, channel_order='rgb')
    meta = dataset_meta_of(model)
    name = f'mmseq_demo_{os.getpid()}'  # visualizers are named global instances
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)

    if 'pred_sem_seg' in result:
        from mmseg.visualization import SegLocalVisualizer
        vis = SegLocalVisualizer(name=name, alpha=args.opacity)
        vis.set_dataset_meta(classes=meta['classes'], palette=meta.get('palette'))
        vis.add_datasample('demo', image, result, draw_gt=False, out_file=args.out)
        labels = result.pred_sem_seg.data.unique().tolist()
        print(f'{args.out}: {len(labels)} classes predicted: '
              + ', '.join(meta['classes'][i] for i in labels[:10])
              + (' ...' if len(labels) > 10 else ''))
    elif 'pred_instances' in result:
        from mmdet.visualization import DetLocalVisualizer
        vis = DetLocalVisualizer(name=name)
        vis.dataset_meta = meta
        vis.add_datasample('demo', image, result, draw_gt=False,
                           pred_score_thr=args.score_thr, out_file=args.out)
        kept = int((result.pred_instances.scores >= args.score_thr).sum())
        print(f'{args.out}: {kept} boxes with score >= {args.score_thr}')
    else:
        raise SystemExit(f'{args.config}: only segmentors and detectors are supported, '
                         f'got a {type(model).__name__} (default_scope={scope!r})')


if __name__ == '__main__':
    main()
