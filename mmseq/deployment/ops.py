"""Traceable equivalents of the OpenMMLab inference steps whose eager code branches on data
or on shapes, written so that torch.onnx's TorchScript exporter records them for any image
size: padding to a size divisor, adaptive average pooling, top-k of a variable number of
candidates, class-aware NMS (ONNX ``NonMaxSuppression``) and multi-level RoI Align (ONNX
``RoiAlign``). Each one computes what the eager OpenMMLab code computes."""
from typing import Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def shape_of(x: torch.Tensor) -> torch.Tensor:
    """``x.shape`` as an int64 tensor that the trace records as ONNX ``Shape`` (a Python int
    or a ``torch.tensor`` of it would be frozen into the graph as a constant)."""
    return torch._shape_as_tensor(x)


def pad_to_divisor(x: torch.Tensor, divisor: int, value: float = 0.) -> torch.Tensor:
    """Pad an NCHW batch on the right and bottom to multiples of ``divisor``.

    The padding amounts are computed from the traced shape, so one graph pads every size
    (an eager ``if pad:`` would freeze the trace's case into the graph)."""
    if divisor <= 1:
        return x
    shape = shape_of(x)
    pad_h = torch.remainder(-shape[2], divisor)
    pad_w = torch.remainder(-shape[3], divisor)
    return F.pad(x, (0, pad_w, 0, pad_h), value=value)


def pad_to_size(x: torch.Tensor, size: Sequence[int], value: float = 0.) -> torch.Tensor:
    """Pad an NCHW batch on the right and bottom to at least ``size`` (H, W)."""
    shape = shape_of(x)
    pad_h = torch.clamp(size[0] - shape[2], min=0)
    pad_w = torch.clamp(size[1] - shape[3], min=0)
    return F.pad(x, (0, pad_w, 0, pad_h), value=value)


class ShapeFreeAdaptiveAvgPool2d(nn.Module):
    """``nn.AdaptiveAvgPool2d`` as two averaging matrices built from the input's shape.

    Bin ``i`` of ``s`` along a side of length ``n`` averages ``[floor(i*n/s), ceil((i+1)*n/s))``,
    PyTorch's rule; the exporter's own adaptive pooling needs the input size fixed in the graph
    (it derives kernel and stride from it), this one does not."""

    def __init__(self, output_size):
        super().__init__()
        if isinstance(output_size, int):
            output_size = (output_size, output_size)
        if any(s is None for s in output_size):
            raise ValueError(f'output size {output_size} with None entries is not supported')
        self.output_size = tuple(int(s) for s in output_size)

    @staticmethod
    def _averaging_matrix(n: torch.Tensor, bins: int, dtype: torch.dtype) -> torch.Tensor:
        i = torch.arange(bins).unsqueeze(1)
        start = torch.div(i * n, bins, rounding_mode='floor')
        end = torch.div((i + 1) * n + bins - 1, bins, rounding_mode='floor')
        pos = torch.arange(n).unsqueeze(0)
        inside = ((pos >= start) & (pos < end)).to(dtype)
        return inside / inside.sum(1, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = shape_of(x)
        rows = self._averaging_matrix(shape[2], self.output_size[0], x.dtype)  # (sh, H)
        cols = self._averaging_matrix(shape[3], self.output_size[1], x.dtype)  # (sw, W)
        return torch.matmul(torch.matmul(rows, x), cols.transpose(0, 1))


def replace_adaptive_pools(module: nn.Module) -> int:
    """Swap every ``nn.AdaptiveAvgPool2d`` whose output is not 1x1 (e.g. UperNet's pyramid
    pooling) for :class:`ShapeFreeAdaptiveAvgPool2d`, in place; returns how many.
    A 1x1 output exports as ``GlobalAveragePool`` and is kept."""
    count = 0
    for name, child in module.named_children():
        if isinstance(child, nn.AdaptiveAvgPool2d):
            size = child.output_size
            size = (size, size) if isinstance(size, int) else tuple(size)
            if size != (1, 1):
                setattr(module, name, ShapeFreeAdaptiveAvgPool2d(size))
                count += 1
        else:
            count += replace_adaptive_pools(child)
    return count


def topk_padded(scores: torch.Tensor, k: int,
                fill: float = -1.) -> Tuple[torch.Tensor, torch.Tensor]:
    """``scores.topk(min(k, len(scores)))`` for a 1-D tensor whose length the graph does not
    know: ``k`` entries of ``fill`` (below every real score) are appended first, so the
    exported ``TopK`` always has ``k`` elements; callers drop the entries ``<= fill``."""
    padded = torch.cat([scores, scores.new_full((k, ), fill)])
    return padded.topk(k)


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor,
                iou_threshold: float, class_agnostic: bool = False) -> torch.Tensor:
    """mmcv's ``batched_nms`` (NMS within each ``idxs`` group by offsetting the groups' boxes
    apart) on ``torchvision.ops.nms``, which exports as ONNX ``NonMaxSuppression``.

    Returns the kept indices, highest score first. Boxes are clipped to the image, so their
    coordinates are >= 0 and the offset is ``idxs * (max coordinate + 1)`` as in mmcv."""
    if class_agnostic:
        return torchvision.ops.nms(boxes, scores, iou_threshold)
    # max over the boxes and a 0: an image without candidates still gives a valid graph
    max_coordinate = torch.cat([boxes.reshape(-1), boxes.new_zeros(1)]).max()
    offsets = idxs.to(boxes) * (max_coordinate + 1)
    return torchvision.ops.nms(boxes + offsets[:, None], scores, iou_threshold)


class _PerClassNMS(torch.autograd.Function):
    """ONNX ``NonMaxSuppression`` with the classes as its batch axis: (C, N, 4) boxes and
    (C, 1, N) scores -> (K, 3) rows (class, 0, box index), each class's kept boxes highest score
    first; boxes scoring ``<= score_threshold`` take no part (the operator's rule, and mmdet's
    ``scores > score_thr``)."""

    @staticmethod
    def forward(ctx, boxes, scores, iou_threshold: float, score_threshold: float):
        rows = []
        for c in range(boxes.shape[0]):
            valid = torch.nonzero(scores[c, 0] > score_threshold).reshape(-1)
            keep = valid[torchvision.ops.nms(boxes[c, valid], scores[c, 0, valid],
                                             iou_threshold)]
            rows.append(torch.stack([torch.full_like(keep, c), torch.zeros_like(keep), keep], 1))
        return torch.cat(rows) if rows else torch.zeros(0, 3, dtype=torch.long)

    @staticmethod
    def symbolic(g, boxes, scores, iou_threshold, score_threshold):
        max_out = g.op('Constant', value_t=torch.tensor([2**31 - 1], dtype=torch.long))
        iou = g.op('Constant', value_t=torch.tensor([iou_threshold], dtype=torch.float))
        thr = g.op('Constant', value_t=torch.tensor([score_threshold], dtype=torch.float))
        return g.op('NonMaxSuppression', boxes, scores, max_out, iou, thr)


def per_class_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float,
                  score_threshold: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """NMS within each class of class-specific boxes, as mmcv's ``batched_nms`` computes it
    (its per-class loop above 10,000 boxes, its offsets below: the same result), with one
    ONNX operator whose cost grows with each class's boxes, not with all of them.

    ``boxes`` (N, C, 4) and ``scores`` (N, C): each of N RoIs has a box and a score per class.
    Returns ``(labels, roi_index)`` of the kept boxes, grouped by class."""
    boxes = boxes.permute(1, 0, 2).contiguous()
    scores = scores.permute(1, 0).unsqueeze(1).contiguous()
    rows = _PerClassNMS.apply(boxes, scores, float(iou_threshold), float(score_threshold))
    return rows[:, 0], rows[:, 2]


def clip_boxes(boxes: torch.Tensor, height: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """Clamp (N, 4) x1y1x2y2 boxes to [0, width] x [0, height] (the image before padding),
    as ``delta2bbox(max_shape=img_shape)`` does."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    width = width.to(boxes)
    height = height.to(boxes)
    return torch.stack([x1.clamp(min=0).minimum(width), y1.clamp(min=0).minimum(height),
                        x2.clamp(min=0).minimum(width), y2.clamp(min=0).minimum(height)], -1)


def multilevel_roi_align(extractor: nn.Module, feats: Sequence[torch.Tensor],
                         rois: torch.Tensor) -> torch.Tensor:
    """mmdet's ``SingleRoIExtractor`` without its data-dependent branches: each level's RoI
    Align runs on the RoIs ``map_roi_levels`` assigns to it (an empty set is fine) and the
    results are scattered back into RoI order.

    ``rois`` is (N, 5): batch index, x1, y1, x2, y2."""
    feats = feats[:extractor.num_inputs]
    layers = extractor.roi_layers
    for layer in layers:
        if getattr(layer, 'pool_mode', 'avg') != 'avg':
            raise NotImplementedError(
                f'RoI Align pool_mode={layer.pool_mode!r} has no ONNX RoiAlign equivalent here '
                "(only 'avg')")

    def align(feat, layer, boxes):
        return torchvision.ops.roi_align(
            feat, boxes, layer.output_size, spatial_scale=layer.spatial_scale,
            sampling_ratio=layer.sampling_ratio, aligned=layer.aligned)

    if len(feats) == 1:
        return align(feats[0], layers[0], rois)
    target = extractor.map_roi_levels(rois, len(feats))
    size = layers[0].output_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    # (N, C, h, w) zeros for N RoIs, N known only at run time
    out = torch.zeros_like(rois[:, :1, None, None]).expand(-1, feats[0].shape[1], *size).clone()
    for level, (feat, layer) in enumerate(zip(feats, layers)):
        index = torch.nonzero(target == level).reshape(-1)
        out = out.index_put((index, ), align(feat, layer, rois[index]))
    return out
