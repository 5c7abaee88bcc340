#!/usr/bin/env python
"""PyTorch eager against onnxruntime FP32 and dynamic INT8 in one run: speed (batch 1 and a
larger batch, one thread and all cores), file size and accuracy on the config's test set.

    python tools/deployment/onnx_benchmark.py CONFIG [CHECKPOINT] [--image IMAGE] \
        [--batch 4] [--threads 1 0] [--repeats 3] [--eval N] [--int8-ops MatMul Conv] \
        [--out-dir DIR] [--cfg-options KEY=VALUE ...]

The config (with the checkpoint; random weights without one) is exported to DIR/model.onnx,
and DIR/model_int8.onnx is written from it (``mmseq.deployment.optimize``). Each time is the
median of REPEATS alternating runs after a warm-up, from the test pipeline's output (IMAGE,
by default the first image of the config's test set, repeated to fill the batch) to the
results at the original size, as ``tools/deployment/onnx_agreement.py`` times it.
``--threads 0`` means all cores. Detector graphs take one image per run, so their larger batch
is left out. ``--eval N``: the first N
images of the config's test set (0: all) through each runtime: per-class IoU for segmentors,
box AP (COCO) for detectors; needs the test data on disk.
"""
import argparse
import datetime
import os
import os.path as osp
import sys

import numpy as np
import torch
from mmengine.config import DictAction
from mmengine.dataset import pseudo_collate

from mmseq.apis import init_model
from mmseq.deployment import DEFAULT_OPSET, ExportError, export
from mmseq.deployment.agreement import pytorch_predict
from mmseq.deployment.optimize import DEFAULT_INT8_OPS, INT8_OPS, quantize_int8
from mmseq.deployment.postprocess import seg_data_sample
from mmseq.deployment.runtime import OnnxModel
from mmseq.utils.timing import cpu_model, time_interleaved

RUNTIMES = ('pytorch', 'onnx_fp32', 'onnx_int8')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='full-model checkpoint; random weights when omitted')
    parser.add_argument('--image', help="image timed (through the test pipeline); default: "
                        "the first image of the config's test set")
    parser.add_argument('--shape', type=int, nargs=2, default=[224, 224], metavar=('H', 'W'),
                        help='size of the traced example (H and W stay dynamic)')
    parser.add_argument('--batch', type=int, default=4,
                        help='the larger batch timed besides batch 1 (segmentors)')
    parser.add_argument('--threads', type=int, nargs='+', default=[1, 0],
                        help='thread counts timed (0: all cores)')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--eval', type=int, default=None, metavar='N',
                        help='accuracy on the first N test images (0: all)')
    parser.add_argument('--int8-ops', nargs='+', default=list(DEFAULT_INT8_OPS),
                        choices=INT8_OPS, help='operators quantized dynamically')
    parser.add_argument('--calibrate', nargs='+', default=(), metavar='IMAGE',
                        help='images (files or folders) to calibrate the static INT8 '
                        'quantization of the convolutions (without: FP32 convolutions)')
    parser.add_argument('--out-dir', default='work_dirs/onnx_benchmark',
                        help='where model.onnx and model_int8.onnx are written')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    missing = [p for p in [args.config, args.checkpoint, args.image]
               if p and not osp.isfile(p)]
    if missing:
        parser.error(f'no such file: {", ".join(missing)}')
    return args


def onnx_predict_batch(onnx_model: OnnxModel, datas: list) -> list:
    """One graph run on the stacked batch (segmentors), or one run per image (detectors),
    then each image's post-processing."""
    if onnx_model.batch_is_dynamic:
        out = onnx_model.run(np.stack([d['inputs'].float().numpy() for d in datas]))
        meta = onnx_model.meta
        align = meta.get('mmseq.align_corners', 'false') == 'true'
        return [seg_data_sample(out['logits'][k], d['data_samples'].metainfo, align)
                for k, d in enumerate(datas)]
    return [onnx_model.predict_loaded(d) for d in datas]


def speed(model, paths: dict, data: dict, batches, threads, repeats):
    rows = []
    for n_threads in threads:
        n = n_threads or os.cpu_count() or 1
        torch.set_num_threads(n)
        models = {k: OnnxModel(p, threads=n) for k, p in paths.items()}
        for batch in batches:
            datas = [data] * batch
            runs = {'pytorch': lambda: (model.test_step(pseudo_collate(datas))
                                        if batch > 1 else pytorch_predict(model, data))}
            with torch.no_grad():
                for k, m in models.items():
                    runs[k] = (lambda m=m: onnx_predict_batch(m, datas))
                timing = time_interleaved(runs, repeats)
            rows.append(dict(threads=n, batch=batch, **timing))
            print(f'  threads {n}, batch {batch}: ' + ', '.join(
                f'{k} {1e3 * v:.0f} ms' for k, v in timing.items()), flush=True)
    return rows


def _seg_counts(pred, gt, num_classes):
    pred, gt = pred.flatten(), gt.flatten()
    valid = gt != 255
    pred, gt = pred[valid], gt[valid]
    inter = np.bincount(gt[pred == gt], minlength=num_classes)[:num_classes]
    area_p = np.bincount(pred, minlength=num_classes)[:num_classes]
    area_g = np.bincount(gt, minlength=num_classes)[:num_classes]
    return inter, area_p + area_g - inter


def test_set(cfg):
    from mmengine.registry import DATASETS, init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmseq'))
    return DATASETS.build(cfg.test_dataloader.dataset)


def accuracy(model, paths: dict, limit: int, task: str) -> dict:
    """Per-class IoU (%) of segmentors, COCO box AP (%) of detectors, on the test set."""
    from mmengine.evaluator import Evaluator
    cfg = model.cfg
    dataset = test_set(cfg)
    n = len(dataset) if not limit else min(limit, len(dataset))
    models = {k: OnnxModel(p) for k, p in paths.items()}
    classes = dataset.metainfo.get('classes', ())
    if task == 'segmentation':
        totals = {k: [0, 0] for k in RUNTIMES}
    else:
        evaluators = {}
        for k in RUNTIMES:
            evaluators[k] = Evaluator(cfg.test_evaluator)
            evaluators[k].dataset_meta = dataset.metainfo
    for index in range(n):
        data = dataset[index]
        samples = {'pytorch': pytorch_predict(model, data)}
        for k, m in models.items():
            samples[k] = m.predict_loaded(data)
        for k, sample in samples.items():
            if task == 'segmentation':
                gt = data['data_samples'].gt_sem_seg.data.numpy()
                pred = sample.pred_sem_seg.data.numpy().astype(np.int64)
                inter, union = _seg_counts(pred, gt.astype(np.int64), len(classes))
                totals[k][0] = totals[k][0] + inter
                totals[k][1] = totals[k][1] + union
            else:
                evaluators[k].process(data_samples=[sample], data_batch=pseudo_collate([data]))
    out = {}
    for k in RUNTIMES:
        if task == 'segmentation':
            iou = 100 * totals[k][0] / np.maximum(totals[k][1], 1)
            out[k] = {f'IoU {c}': float(v) for c, v in zip(classes, iou)}
            out[k]['mIoU'] = float(iou.mean())
        else:
            metrics = evaluators[k].evaluate(n)
            out[k] = {'box AP': 100 * float(next(v for key, v in metrics.items()
                                                 if key.endswith('bbox_mAP')))}
    print(f'  accuracy on {n} test images: {out}', flush=True)
    return out


def report(args, image, task, sizes, rows, acc) -> str:
    lines = [f'{args.config} ({task}), {args.checkpoint or "random weights"}; '
             f'{image}; CPU: {cpu_model()}; {datetime.date.today()}; '
             f'INT8: {" ".join(args.int8_ops)} dynamic'
             + (', Conv static (calibrated)' if args.calibrate else ', Conv FP32'),
             '',
             '| threads | batch | PyTorch ms | ORT FP32 ms | ORT INT8 ms | FP32 speed-up | '
             'INT8 speed-up |',
             '|---|---|---|---|---|---|---|']
    for r in rows:
        lines.append(f'| {r["threads"]} | {r["batch"]} | {1e3 * r["pytorch"]:.0f} | '
                     f'{1e3 * r["onnx_fp32"]:.0f} | {1e3 * r["onnx_int8"]:.0f} | '
                     f'{r["pytorch"] / r["onnx_fp32"]:.2f}x | '
                     f'{r["pytorch"] / r["onnx_int8"]:.2f}x |')
    lines.append('')
    lines.append('file size: ' + ', '.join(f'{k} {v / 2 ** 20:.1f} MiB' for k, v in sizes.items()))
    if acc:
        lines.append('accuracy: ' + '; '.join(
            f'{k} ' + ', '.join(f'{m} {v:.2f}' for m, v in a.items()) for k, a in acc.items()))
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    fp32 = osp.join(args.out_dir, 'model.onnx')
    int8 = osp.join(args.out_dir, 'model_int8.onnx')
    try:
        graph, exported, _ = export(args.config, fp32, args.checkpoint, args.shape,
                                    cfg_options=args.cfg_options, opset=args.opset)
    except ExportError as e:
        sys.exit(f'ONNX export not supported: {e}')
    if graph.task not in ('segmentation', 'detection', 'instance_segmentation'):
        sys.exit(f'{args.config}: a {graph.task} model; this tool measures segmentors and '
                 'detectors')
    quantize_int8(fp32, int8, args.int8_ops, args.calibrate)
    paths = {'onnx_fp32': fp32, 'onnx_int8': int8}
    sizes = {k: osp.getsize(p) for k, p in paths.items()}
    print(f'{fp32} ({sizes["onnx_fp32"] / 2 ** 20:.1f} MiB), {int8} '
          f'({sizes["onnx_int8"] / 2 ** 20:.1f} MiB)', flush=True)
    model = init_model(args.config, args.checkpoint, device='cpu', cfg_options=args.cfg_options)
    if args.checkpoint is None:
        model.load_state_dict(exported.state_dict())
    if args.image:
        data = OnnxModel(fp32).load(args.image)
        name = osp.basename(args.image)
    else:
        data = test_set(model.cfg)[0]
        name = osp.basename(data['data_samples'].img_path)
    h, w = data['data_samples'].ori_shape[:2]
    name = f'{name} ({w}x{h})'
    batches = [1] + ([args.batch] if graph.task == 'segmentation' and args.batch > 1 else [])
    rows = speed(model, paths, data, batches, args.threads, args.repeats)
    acc = accuracy(model, paths, args.eval, graph.task) if args.eval is not None else None
    print(report(args, name, graph.task, sizes, rows, acc))


if __name__ == '__main__':
    main()
