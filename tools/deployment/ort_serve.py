#!/usr/bin/env python
"""Run an mmseq ONNX segmentor or detector on image files with onnxruntime, numpy and Pillow
only: no torch, no OpenMMLab package.

    pip install onnxruntime numpy pillow
    python ort_serve.py MODEL.onnx IMAGE [IMAGE ...] --out-dir vis \
        [--score-thr 0.3] [--opacity 0.5] [--threads N] [--save-npz]

This file is self-contained: copy it next to the ``.onnx`` file on the serving machine. It
reads what it needs from the file's ``mmseq.runtime`` metadata (written by
``tools/deployment/pytorch2onnx.py``): the test pipeline's resize, the class names and
palette, and the post-processing thresholds. Per image it does what ``tools/test.py`` does
around the graph:

- loading: the file decoded with Pillow into BGR, as mmcv's ``LoadImageFromFile`` gives it;
- resizing: mmcv's ``Resize`` (the ``keep_ratio`` size rounding of ``mmcv.rescale_size``, and
  OpenCV's ``INTER_LINEAR`` arithmetic, reimplemented in numpy, bit-exact with ``cv2.resize``);
- the graph (preprocessing, network, argmax or NMS are inside it);
- post-processing to the original image's size: segmentation logits resized bilinearly
  (``torch.nn.functional.interpolate``) and their argmax; boxes divided by the scale factor;
  Mask R-CNN's 28x28 masks pasted into the image (mmdet's ``_do_paste_mask``) and
  thresholded.

As a module::

    from ort_serve import OrtModel
    model = OrtModel('sem_fpn.onnx')
    result = model.predict('image.png')  # {'sem_seg': (H, W) int64, 'seg_logits': ...}
"""
import argparse
import functools
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

RUNTIME_KEY = 'mmseq.runtime'
RUNTIME_FORMAT = 1
DENSE_TASKS = ('segmentation', 'detection', 'instance_segmentation')

# ---------------------------------------------------------------------------------------------
# Loading and resizing (mmcv's LoadImageFromFile and Resize)
# ---------------------------------------------------------------------------------------------


def read_image(path: str) -> np.ndarray:
    """An image file as an (H, W, 3) BGR uint8 array, as ``mmcv.imread(path)`` reads it
    (EXIF orientation applied, grey and palette images expanded to three channels)."""
    from PIL import Image, ImageOps
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image)
        if image.mode in ('I;16', 'I;16B', 'I;16L', 'I'):  # 16-bit grey: OpenCV keeps the top byte
            grey = np.asarray(image, dtype=np.uint32) >> 8
            rgb = np.repeat(grey.astype(np.uint8)[..., None], 3, axis=2)
        else:
            rgb = np.asarray(image.convert('RGB'))
    return np.ascontiguousarray(rgb[..., ::-1])


def rescale_size(width: int, height: int, scale) -> Tuple[int, int]:
    """``mmcv.rescale_size``: the (width, height) that fits ``scale`` keeping the aspect
    ratio. ``scale``: a factor, or a (long edge, short edge) pair in either order."""
    if isinstance(scale, (int, float)):
        factor = float(scale)
    else:
        long_edge, short_edge = max(scale), min(scale)
        factor = min(long_edge / max(height, width), short_edge / min(height, width))
    return int(width * factor + 0.5), int(height * factor + 0.5)


def resized_size(width: int, height: int, resize: Optional[dict]) -> Tuple[int, int]:
    """The (width, height) mmcv's ``Resize`` gives an image of (width, height)."""
    if not resize:
        return width, height
    if resize.get('scale'):
        scale = tuple(resize['scale'])
    else:  # scale_factor: a number or (w, h) factors
        factor = resize['scale_factor']
        fw, fh = (factor, factor) if isinstance(factor, (int, float)) else factor
        scale = (int(width * float(fw) + 0.5), int(height * float(fh) + 0.5))
    if resize.get('keep_ratio'):
        return rescale_size(width, height, scale)
    return int(scale[0]), int(scale[1])


_COEF_BITS = 11  # OpenCV's INTER_RESIZE_COEF_BITS


def _linear_taps(src: int, dst: int, clamp: bool):
    """OpenCV's linear-resize source indices and 11-bit fixed-point weights along one axis.
    Columns clamp the fraction at the borders; rows keep it and clamp the indices."""
    scale = 1.0 / (dst / src)
    pos = ((np.arange(dst) + 0.5) * scale - 0.5).astype(np.float32)
    first = np.floor(pos).astype(np.int64)
    frac = (pos - first.astype(np.float32)).astype(np.float32)
    if clamp:
        low, high = first < 0, first >= src - 1
        frac[low | high] = 0
        first[low] = 0
        first[high] = src - 1
    one = np.float32(1 << _COEF_BITS)
    w0 = np.rint((np.float32(1) - frac) * one).astype(np.int64)
    w1 = np.rint(frac * one).astype(np.int64)
    return np.clip(first, 0, src - 1), np.clip(first + 1, 0, src - 1), w0, w1


def resize_bilinear(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """``cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)`` for an (H, W, C)
    uint8 image, with OpenCV's integer arithmetic (the same values, pixel for pixel)."""
    src_h, src_w = img.shape[:2]
    if (src_h, src_w) == (height, width):
        return img.copy()
    pixels = img.astype(np.int64)
    if (src_w, src_h) == (2 * width, 2 * height):  # OpenCV takes its 2x2 area average here
        total = (pixels[0::2, 0::2] + pixels[0::2, 1::2] + pixels[1::2, 0::2]
                 + pixels[1::2, 1::2] + 2) >> 2
        return total.astype(np.uint8)
    x0, x1, a0, a1 = _linear_taps(src_w, width, clamp=True)
    y0, y1, b0, b1 = _linear_taps(src_h, height, clamp=False)
    shape = (-1, ) + (1, ) * (img.ndim - 2)
    rows = pixels[:, x0] * a0.reshape(shape) + pixels[:, x1] * a1.reshape(shape)
    out = np.empty((height, width) + img.shape[2:], np.uint8)
    for start in range(0, height, 256):  # bounded memory for large images
        stop = min(start + 256, height)
        top, bottom = rows[y0[start:stop]] >> 4, rows[y1[start:stop]] >> 4
        beta0 = b0[start:stop].reshape((-1, 1) + shape[1:])
        beta1 = b1[start:stop].reshape((-1, 1) + shape[1:])
        value = (((top * beta0) >> 16) + ((bottom * beta1) >> 16) + 2) >> 2
        out[start:stop] = np.clip(value, 0, 255)
    return out


def load(img: Union[str, np.ndarray], resize: Optional[dict]) -> Tuple[np.ndarray, dict]:
    """An image file (or an (H, W, 3) BGR uint8 array) -> the graph's (1, 3, h, w) float32
    input and ``{'ori_shape', 'img_shape', 'scale_factor'}`` as mmcv's pipeline records them
    (shapes (H, W); scale factor (w_scale, h_scale))."""
    image = read_image(img) if isinstance(img, str) else np.asarray(img)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f'expected an (H, W, 3) uint8 BGR image, got {image.shape} '
                         f'{image.dtype}')
    height, width = image.shape[:2]
    new_w, new_h = resized_size(width, height, resize)
    if (new_w, new_h) != (width, height):
        if (resize or {}).get('interpolation', 'bilinear') != 'bilinear':
            raise ValueError(f"resize interpolation {resize['interpolation']!r} is not "
                             "supported (only 'bilinear')")
        image = resize_bilinear(image, new_w, new_h)
    meta = dict(ori_shape=(height, width), img_shape=(new_h, new_w),
                scale_factor=(new_w / width, new_h / height))
    batch = np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32)
    return batch, meta


# ---------------------------------------------------------------------------------------------
# Post-processing to the original image size (mmseg's and mmdet's last steps)
# ---------------------------------------------------------------------------------------------


def _interp_axis(size_in: int, size_out: int, align_corners: bool):
    """Source indices and weights of ``torch.nn.functional.interpolate(mode='bilinear')``
    along one axis (no antialiasing)."""
    out = np.arange(size_out, dtype=np.float32)
    if align_corners:
        scale = np.float32((size_in - 1) / (size_out - 1)) if size_out > 1 else np.float32(0)
        pos = out * scale
    else:
        scale = np.float32(size_in / size_out)
        pos = np.maximum((out + np.float32(0.5)) * scale - np.float32(0.5), np.float32(0))
    first = np.minimum(pos.astype(np.int64), size_in - 1)
    second = np.minimum(first + 1, size_in - 1)
    w1 = (pos - first.astype(np.float32)).astype(np.float32)
    return first, second, np.float32(1) - w1, w1


def resize_logits(logits: np.ndarray, height: int, width: int,
                  align_corners: bool = False) -> np.ndarray:
    """(C, h, w) float32 -> (C, height, width), bilinear as mmseg's ``resize``."""
    c, h, w = logits.shape
    if (h, w) == (height, width):
        return logits.astype(np.float32, copy=True)
    y0, y1, wy0, wy1 = _interp_axis(h, height, align_corners)
    x0, x1, wx0, wx1 = _interp_axis(w, width, align_corners)
    rows = logits[:, y0] * wy0[None, :, None] + logits[:, y1] * wy1[None, :, None]
    return (rows[:, :, x0] * wx0 + rows[:, :, x1] * wx1).astype(np.float32)


def segmentation_result(logits: np.ndarray, meta: dict, align_corners: bool = False,
                        threshold: Optional[float] = None) -> Dict[str, np.ndarray]:
    """The graph's (C, h, w) logits -> ``{'seg_logits': (C, H, W), 'sem_seg': (H, W) int64}``
    at the original size (one channel: sigmoid and ``threshold``, as mmseg does)."""
    height, width = meta['ori_shape']
    logits = resize_logits(np.asarray(logits, np.float32), height, width, align_corners)
    if logits.shape[0] > 1:
        return dict(seg_logits=logits, sem_seg=logits.argmax(axis=0).astype(np.int64))
    probs = 1 / (1 + np.exp(-logits))
    thr = 0.3 if threshold is None else threshold
    return dict(seg_logits=probs, sem_seg=(probs[0] > thr).astype(np.int64))


def _grid_sample_1d(size: int, coord: np.ndarray):
    """Bilinear taps of ``grid_sample(align_corners=False, padding_mode='zeros')`` for
    normalised coordinates: (index0, index1, weight0, weight1), out-of-range weights 0."""
    pos = ((coord + np.float32(1)) * np.float32(size) - np.float32(1)) / np.float32(2)
    first = np.floor(pos)
    w1 = (pos - first).astype(np.float32)
    w0 = np.float32(1) - w1
    first = first.astype(np.int64)
    second = first + 1
    w0 = np.where((first >= 0) & (first < size), w0, 0).astype(np.float32)
    w1 = np.where((second >= 0) & (second < size), w1, 0).astype(np.float32)
    return np.clip(first, 0, size - 1), np.clip(second, 0, size - 1), w0, w1


def paste_mask(mask: np.ndarray, box: np.ndarray, height: int, width: int,
               threshold: float = 0.5) -> np.ndarray:
    """One (h, w) mask probability map inside ``box`` (x1, y1, x2, y2) -> an (height, width)
    bool mask, as mmdet's ``_do_paste_mask`` on the CPU (one box at a time)."""
    out = np.zeros((height, width), bool)
    box = np.asarray(box, np.float32)
    x_start = int(max(np.floor(box[0]) - 1, 0))
    y_start = int(max(np.floor(box[1]) - 1, 0))
    x_stop = int(min(np.ceil(box[2]) + 1, width))
    y_stop = int(min(np.ceil(box[3]) + 1, height))
    if x_stop <= x_start or y_stop <= y_start:
        return out
    with np.errstate(divide='ignore', invalid='ignore'):
        gx = ((np.arange(x_start, x_stop, dtype=np.float32) + np.float32(0.5) - box[0])
              / (box[2] - box[0]) * np.float32(2) - np.float32(1))
        gy = ((np.arange(y_start, y_stop, dtype=np.float32) + np.float32(0.5) - box[1])
              / (box[3] - box[1]) * np.float32(2) - np.float32(1))
    gx[np.isinf(gx)] = 0
    gy[np.isinf(gy)] = 0
    mask = np.asarray(mask, np.float32)
    mh, mw = mask.shape
    x0, x1, wx0, wx1 = _grid_sample_1d(mw, gx)
    y0, y1, wy0, wy1 = _grid_sample_1d(mh, gy)
    top = mask[y0][:, x0] * wx0 + mask[y0][:, x1] * wx1
    bottom = mask[y1][:, x0] * wx0 + mask[y1][:, x1] * wx1
    values = top * wy0[:, None] + bottom * wy1[:, None]
    out[y_start:y_stop, x_start:x_stop] = values >= threshold
    return out


def detection_result(outputs: Dict[str, np.ndarray], meta: dict,
                     mask_thr_binary: float = 0.5) -> Dict[str, np.ndarray]:
    """The graph's detections (resized-image pixels) -> ``{'boxes', 'scores', 'labels'}``
    in the original image's pixels, and ``'masks'`` (N, H, W) bool for Mask R-CNN."""
    w_scale, h_scale = meta['scale_factor']
    scale = np.array([w_scale, h_scale, w_scale, h_scale], np.float32)
    boxes = np.asarray(outputs['boxes'], np.float32).reshape(-1, 4) / scale
    result = dict(boxes=boxes, scores=np.asarray(outputs['scores'], np.float32),
                  labels=np.asarray(outputs['labels']).astype(np.int64))
    if 'masks' in outputs:
        height, width = meta['ori_shape']
        result['masks'] = np.stack(
            [paste_mask(m, b, height, width, mask_thr_binary)
             for m, b in zip(outputs['masks'], boxes)]) if len(boxes) else \
            np.zeros((0, height, width), bool)
    return result


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


class OrtModel:
    """An mmseq ONNX segmentor or detector on onnxruntime's CPU provider.

    Args:
        path: the ``.onnx`` file (FP32, optimised or INT8).
        threads: onnxruntime's intra-op threads (default: onnxruntime's choice, all cores).
    """

    def __init__(self, path: str, threads: Optional[int] = None):
        import onnxruntime as ort
        if not osp.isfile(path):
            raise FileNotFoundError(f'no such ONNX file: {path}')
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
        props = self.session.get_modelmeta().custom_metadata_map
        if RUNTIME_KEY not in props:
            raise ValueError(
                f'{path}: no {RUNTIME_KEY!r} metadata; export the model again with '
                'tools/deployment/pytorch2onnx.py (segmentors and detectors)')
        self.meta = json.loads(props[RUNTIME_KEY])
        self.task = self.meta.get('task')
        if self.task not in DENSE_TASKS:
            raise ValueError(f'{path}: a {self.task!r} model; this runtime takes segmentors '
                             'and detectors (backbones and classifiers take a normalised '
                             "tensor named 'input': run them with onnxruntime directly)")
        if self.meta.get('format', 0) > RUNTIME_FORMAT:
            raise ValueError(f'{path}: runtime metadata format {self.meta["format"]} is newer '
                             f'than this file reads ({RUNTIME_FORMAT}); use a newer ort_serve.py')
        if self.meta.get('unsupported'):
            raise ValueError(f'{path}: {self.meta["unsupported"]}')
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.classes = list(self.meta.get('classes') or [])
        self.palette = [tuple(c) for c in self.meta.get('palette') or []]

    def load(self, img: Union[str, np.ndarray]) -> Tuple[np.ndarray, dict]:
        """An image (file or BGR array) -> the graph's input and the image's sizes."""
        return load(img, self.meta.get('resize'))

    def run(self, batch: np.ndarray) -> Dict[str, np.ndarray]:
        """The graph on a float32 (B, 3, h, w) pixel batch (BGR, resized); outputs by name."""
        outputs = self.session.run(None, {self.input_name: np.ascontiguousarray(
            batch, dtype=np.float32)})
        return dict(zip(self.output_names, outputs))

    def postprocess(self, outputs: Dict[str, np.ndarray], meta: dict,
                    index: int = 0) -> Dict[str, np.ndarray]:
        if self.task == 'segmentation':
            return segmentation_result(outputs['logits'][index], meta,
                                       bool(self.meta.get('align_corners', False)),
                                       self.meta.get('seg_threshold'))
        return detection_result(outputs, meta, float(self.meta.get('mask_thr_binary', 0.5)))

    def predict(self, img: Union[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """An image file or BGR array -> the result in the original image's pixels:
        segmentation ``sem_seg`` (H, W) int64 and ``seg_logits``; detection ``boxes`` (N, 4)
        x1y1x2y2, ``scores``, ``labels`` and, for Mask R-CNN, ``masks`` (N, H, W) bool."""
        batch, meta = self.load(img)
        return self.postprocess(self.run(batch), meta)


# ---------------------------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------------------------


def _colour(palette: Sequence[tuple], index: int) -> Tuple[int, int, int]:
    if palette:
        return tuple(int(c) for c in palette[index % len(palette)])
    rng = np.random.default_rng(index)
    return tuple(int(c) for c in rng.integers(0, 256, 3))


def draw(img: Union[str, np.ndarray], result: Dict[str, np.ndarray], classes: Sequence[str],
         palette: Sequence[tuple], score_thr: float = 0.3, opacity: float = 0.5):
    """The result over the image (a path or a BGR array): class colours for a segmentation;
    boxes, labels and masks above ``score_thr`` for a detection. Returns a PIL image."""
    from PIL import Image, ImageDraw
    rgb = (read_image(img) if isinstance(img, str) else np.asarray(img))[..., ::-1]
    canvas = rgb.astype(np.float32)
    if 'sem_seg' in result:
        seg = result['sem_seg']
        colours = np.array([_colour(palette, i) for i in range(int(seg.max()) + 1)],
                           np.float32)
        canvas = canvas * (1 - opacity) + colours[seg] * opacity
        return Image.fromarray(np.clip(canvas + 0.5, 0, 255).astype(np.uint8))
    keep = result['scores'] >= score_thr
    for mask, label in zip(result.get('masks', [])[keep] if 'masks' in result else [],
                           result['labels'][keep]):
        canvas[mask] = canvas[mask] * (1 - opacity) + np.float32(_colour(palette, label)) * opacity
    image = Image.fromarray(np.clip(canvas + 0.5, 0, 255).astype(np.uint8))
    pen = ImageDraw.Draw(image)
    for box, score, label in zip(result['boxes'][keep], result['scores'][keep],
                                 result['labels'][keep]):
        colour = _colour(palette, int(label))
        pen.rectangle([float(v) for v in box], outline=colour, width=2)
        name = classes[label] if label < len(classes) else str(label)
        pen.text((float(box[0]) + 2, float(box[1]) + 1), f'{name} {score:.2f}', fill=colour)
    return image


def summary(result: Dict[str, np.ndarray], classes: Sequence[str], score_thr: float) -> str:
    if 'sem_seg' in result:
        labels = np.unique(result['sem_seg']).tolist()
        names = [classes[i] if i < len(classes) else str(i) for i in labels]
        return f'{len(labels)} classes: ' + ', '.join(names[:10]) + (
            ' ...' if len(names) > 10 else '')
    kept = int((result['scores'] >= score_thr).sum())
    return f'{len(result["scores"])} detections, {kept} with score >= {score_thr}'


# ---------------------------------------------------------------------------------------------
# Command
# ---------------------------------------------------------------------------------------------


IMAGE_EXTS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')


def expand_images(paths: Sequence[str]) -> List[str]:
    """Image files, with each folder replaced by the image files in it (sorted)."""
    out = []
    for path in paths:
        if osp.isdir(path):
            out += sorted(osp.join(path, n) for n in os.listdir(path)
                          if n.lower().endswith(IMAGE_EXTS))
        else:
            out.append(path)
    return out


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument('model', help='.onnx file of a segmentor or detector exported by '
                        'mmseq (tools/deployment/pytorch2onnx.py)')
    parser.add_argument('images', nargs='+', help='image files or folders of them')
    parser.add_argument('--out-dir', help='where to write one picture per image (png) and, '
                        'with --save-npz, the results')
    parser.add_argument('--save-npz', action='store_true',
                        help='also write each result as IMAGE.npz (arrays named as in '
                        'OrtModel.predict)')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='detection: lowest score of a drawn box')
    parser.add_argument('--opacity', type=float, default=0.5,
                        help='opacity of the class colours and masks (0..1]')
    parser.add_argument('--threads', type=int, default=None, help="onnxruntime's threads")
    parser.add_argument('--labels', metavar='DIR',
                        help='segmentation: a folder of label maps (STEM.png, one class index '
                        'per pixel, 255 ignored) for the images; prints the IoU of each class '
                        'and their mean over all images, as mmseg\'s IoUMetric')
    args = parser.parse_args(argv)
    args.images = expand_images(args.images)
    missing = [p for p in [args.model, *args.images] if not osp.isfile(p)]
    if missing:
        parser.error(f'no such file: {", ".join(missing)}')
    if args.save_npz and not args.out_dir:
        parser.error('--save-npz needs --out-dir')
    return args


def label_path(folder: str, image: str) -> str:
    return osp.join(folder, osp.splitext(osp.basename(image))[0] + '.png')


class IoU:
    """Per-class intersection and union summed over images (mmseg's IoUMetric)."""

    def __init__(self, num_classes: int, ignore_index: int = 255):
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.intersect = np.zeros(num_classes, np.int64)
        self.union = np.zeros(num_classes, np.int64)

    def add(self, pred: np.ndarray, labels: np.ndarray) -> None:
        if pred.shape != labels.shape:
            raise ValueError(f'the label map is {labels.shape[0]}x{labels.shape[1]} but the '
                             f'prediction {pred.shape[0]}x{pred.shape[1]}')
        valid = labels != self.ignore_index
        pred, labels = pred[valid].astype(np.int64), labels[valid].astype(np.int64)
        n = self.num_classes
        hit = np.bincount(labels[pred == labels], minlength=n)[:n]
        self.intersect += hit
        self.union += (np.bincount(pred, minlength=n)[:n] + np.bincount(labels, minlength=n)[:n]
                       - hit)

    def report(self, classes: Sequence[str]) -> str:
        with np.errstate(invalid='ignore', divide='ignore'):
            iou = 100.0 * self.intersect / self.union
        lines = [f'IoU of {classes[i] if i < len(classes) else i}: {iou[i]:.2f}'
                 for i in range(self.num_classes)]
        return '\n'.join(lines + [f'mIoU: {np.nanmean(iou):.2f}'])


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    try:
        model = OrtModel(args.model, threads=args.threads)
    except ValueError as e:
        sys.exit(str(e))
    metric = None
    if args.labels:
        missing = [p for p in map(functools.partial(label_path, args.labels), args.images)
                   if not osp.isfile(p)]
        if missing:
            sys.exit(f'--labels: no label map {missing[0]}' + (
                f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''))
        metric = IoU(len(model.classes))
    for image in args.images:
        result = model.predict(image)
        if metric is not None:
            if 'sem_seg' not in result:
                sys.exit('--labels: the model is not a segmentor')
            from PIL import Image
            labels = np.asarray(Image.open(label_path(args.labels, image)))
            metric.add(result['sem_seg'], labels)
        line = f'{image}: {summary(result, model.classes, args.score_thr)}'
        if args.out_dir:
            os.makedirs(args.out_dir, exist_ok=True)
            stem = osp.join(args.out_dir, osp.splitext(osp.basename(image))[0])
            draw(image, result, model.classes, model.palette, args.score_thr,
                 args.opacity).save(stem + '.png')
            line += f' -> {stem}.png'
            if args.save_npz:
                np.savez_compressed(stem + '.npz', **{
                    k: v for k, v in result.items() if k != 'seg_logits'})
        print(line)
    if metric is not None:
        print(metric.report(model.classes))


if __name__ == '__main__':
    main()
