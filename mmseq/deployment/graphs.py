"""What each exported ONNX graph computes: the data preprocessor's normalisation and padding,
the network, and the model's test-time post-processing up to the point where the original
image's size is needed (see :mod:`mmseq.deployment.postprocess` for the rest).

Dense models take ``image``: float32 (B, 3, H, W) pixel values in the order the test pipeline
loads them (BGR for ``LoadImageFromFile``), after the pipeline's resize. Backbones and
classifiers take ``input``: the normalised batch the data preprocessor outputs.
"""
from typing import List, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .ops import (batched_nms, clip_boxes, multilevel_roi_align, pad_to_divisor, pad_to_size,
                  per_class_nms, shape_of, topk_padded)


BATCH_HW = {0: 'batch', 2: 'height', 3: 'width'}


class ExportError(RuntimeError):
    """A model, an option or an operator that the ONNX export does not support."""


class Preprocess(nn.Module):
    """The data preprocessor at test time: channel flip, ``(x - mean) / std`` and padding of
    the normalised batch with ``pad_value`` to a size divisor (or a fixed size)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], bgr_to_rgb: bool,
                 size_divisor: int = 1, pad_size: Sequence[int] = None, pad_value: float = 0.):
        super().__init__()
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1),
                             persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1),
                             persistent=False)
        self.bgr_to_rgb = bgr_to_rgb
        self.size_divisor = int(size_divisor or 1)
        self.pad_size = tuple(pad_size) if pad_size else None
        self.pad_value = float(pad_value)

    @classmethod
    def from_model(cls, model: nn.Module) -> 'Preprocess':
        """Read an mmseg ``SegDataPreProcessor`` or an mmengine/mmdet ``ImgDataPreprocessor``."""
        pre = model.data_preprocessor
        mean = getattr(pre, 'mean', None)
        std = getattr(pre, 'std', None)
        if not getattr(pre, '_enable_normalize', False) or mean is None:
            mean, std = [0., 0., 0.], [1., 1., 1.]
        else:
            mean, std = mean.flatten().tolist(), std.flatten().tolist()
        bgr_to_rgb = bool(getattr(pre, 'channel_conversion', False)
                          or getattr(pre, '_channel_conversion', False))
        if hasattr(pre, 'seg_pad_val'):  # mmseg: padding at test time only via test_cfg
            test_cfg = pre.test_cfg or {}
            return cls(mean, std, bgr_to_rgb, test_cfg.get('size_divisor') or 1,
                       test_cfg.get('size'), pre.pad_val)
        if getattr(pre, 'batch_augments', None) and not isinstance(pre.batch_augments,
                                                                   nn.ModuleList):
            raise ExportError('batch augments of the data preprocessor are not supported')
        return cls(mean, std, bgr_to_rgb, getattr(pre, 'pad_size_divisor', 1), None,
                   getattr(pre, 'pad_value', 0.))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if self.bgr_to_rgb:
            image = image.flip(1)
        x = (image - self.mean) / self.std
        if self.pad_size is not None:
            return pad_to_size(x, self.pad_size, self.pad_value)
        return pad_to_divisor(x, self.size_divisor, self.pad_value)


def _check_input(backbone: nn.Module, x: torch.Tensor) -> None:
    """The backbone's own input checks (e.g. an image smaller than one stem patch), which
    padding first would otherwise hide."""
    if hasattr(backbone, 'stem_patch') and not torch.jit.is_tracing():
        from mmseq.models.backbones.base import check_image_batch
        check_image_batch(x, backbone.in_channels, backbone.stem_patch)


class BackboneGraph(nn.Module):
    """Normalised batch -> the backbone's feature maps (``out0``, ``out1``, ...)."""
    task = 'backbone'
    input_name = 'input'
    dynamic_axes = {'input': BATCH_HW}

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        _check_input(self.backbone, x)
        # The backbone pads to its total stride with a Python branch on the size; padding
        # here first records the padding for every size.
        return tuple(self.backbone(pad_to_divisor(x, self.backbone.total_stride)))


class ClassifierGraph(nn.Module):
    """Normalised batch -> an mmpretrain classifier's logits (no softmax)."""
    task = 'classification'
    input_name = 'input'
    output_names = ['logits']
    dynamic_axes = {'input': BATCH_HW, 'logits': {0: 'batch'}}

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.classifier.backbone, x)
        x = pad_to_divisor(x, getattr(self.classifier.backbone, 'total_stride', 1))
        return self.classifier.head(self.classifier.extract_feat(x))


class SegmentorGraph(nn.Module):
    """mmseg ``EncoderDecoder`` (whole-image test mode): image -> ``logits`` (B, C, H, W) at
    the input's size (the decode head's output resized to the padded size, the padding cut
    off, as ``predict`` and ``postprocess_result`` do) and ``mask`` (B, H, W), their argmax
    (or, for a one-channel head, the sigmoid above the head's threshold)."""
    task = 'segmentation'
    input_name = 'image'
    output_names = ['logits', 'mask']
    dynamic_axes = {'image': BATCH_HW, 'logits': BATCH_HW,
                    'mask': {0: 'batch', 1: 'height', 2: 'width'}}

    def __init__(self, segmentor: nn.Module):
        super().__init__()
        mode = segmentor.test_cfg.get('mode', 'whole') if segmentor.test_cfg else 'whole'
        if mode != 'whole':
            raise ExportError(f"test_cfg.mode={mode!r} is not supported (only 'whole'); "
                              "export with --cfg-options model.test_cfg.mode=whole")
        self.preprocess = Preprocess.from_model(segmentor)
        self.segmentor = segmentor
        self.align_corners = segmentor.decode_head.align_corners
        self.out_channels = segmentor.decode_head.out_channels
        self.threshold = getattr(segmentor.decode_head, 'threshold', None)
        if self.threshold is None:
            self.threshold = 0.3  # mmseg's default for one-channel heads

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        shape = shape_of(image)
        x = self.preprocess(image)
        logits = self.segmentor.decode_head(self.segmentor.extract_feat(x))
        logits = F.interpolate(logits, size=x.shape[2:], mode='bilinear',
                               align_corners=self.align_corners)
        logits = logits[:, :, :shape[2], :shape[3]]
        if self.out_channels > 1:
            mask = logits.argmax(1)
        else:
            mask = (logits.sigmoid() > self.threshold).squeeze(1).long()
        return logits, mask


def _delta_decoder(coder: nn.Module):
    """``(priors, deltas) -> boxes`` for (N, 4) priors and deltas: ``delta2bbox`` of a
    ``DeltaXYWHBBoxCoder`` step by step, without its clipping (to the traced image size,
    :func:`clip_boxes`) and its final reshape (which has no ONNX form for zero boxes)."""
    from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder
    if type(coder) is not DeltaXYWHBBoxCoder:
        raise ExportError(f'box coder {type(coder).__name__} is not supported '
                          '(only DeltaXYWHBBoxCoder)')
    max_ratio = float(np.abs(np.log(16 / 1000)))  # the coder's wh_ratio_clip

    def decode(priors, deltas):
        deltas = deltas * deltas.new_tensor(coder.stds).view(1, -1) \
            + deltas.new_tensor(coder.means).view(1, -1)
        dxy, dwh = deltas[:, :2], deltas[:, 2:]
        pxy = (priors[:, :2] + priors[:, 2:]) * 0.5
        pwh = priors[:, 2:] - priors[:, :2]
        dxy_wh = pwh * dxy
        if coder.add_ctr_clamp:
            dxy_wh = torch.clamp(dxy_wh, max=coder.ctr_clamp, min=-coder.ctr_clamp)
            dwh = torch.clamp(dwh, max=max_ratio)
        else:
            dwh = dwh.clamp(min=-max_ratio, max=max_ratio)
        gxy = pxy + dxy_wh
        gwh = pwh * dwh.exp()
        return torch.cat([gxy - gwh * 0.5, gxy + gwh * 0.5], dim=-1)
    return decode


def _nms_settings(cfg) -> Tuple[float, bool]:
    nms = cfg.get('nms') or {}
    if nms.get('type', 'nms') != 'nms':
        raise ExportError(f"test_cfg nms type {nms.get('type')!r} is not supported "
                          "(only 'nms', which exports as ONNX NonMaxSuppression)")
    return float(nms.get('iou_threshold', 0.5)), bool(nms.get('class_agnostic', False))


def _flat_level(cls_score, bbox_pred, channels: int):
    """One image's (A*K, h, w) and (A*4, h, w) head maps -> (h*w*A, K), (h*w*A, 4)."""
    return (cls_score.permute(1, 2, 0).reshape(-1, channels),
            bbox_pred.permute(1, 2, 0).reshape(-1, 4))


def _min_size_mask(boxes: torch.Tensor, min_size: float) -> torch.Tensor:
    return ((boxes[:, 2] - boxes[:, 0]) > min_size) & ((boxes[:, 3] - boxes[:, 1]) > min_size)


class DenseDetectorGraph(nn.Module):
    """A single-stage anchor-based detector (RetinaNet): one image -> ``boxes`` (N, 4) x1y1x2y2
    in the input image's pixels, ``scores`` (N,), ``labels`` (N,), highest score first.

    Follows ``BaseDenseHead.predict_by_feat``: per level the ``nms_pre`` best (anchor, class)
    scores above ``score_thr``, decoding clipped to the image, boxes wider and taller than
    ``min_bbox_size``, class-aware NMS, ``max_per_img`` kept."""
    task = 'detection'
    input_name = 'image'
    output_names = ['boxes', 'scores', 'labels']
    # One image per run: the candidates' number differs from image to image.
    dynamic_axes = {'image': {2: 'height', 3: 'width'}, 'boxes': {0: 'num_dets'},
                    'scores': {0: 'num_dets'}, 'labels': {0: 'num_dets'}}

    def __init__(self, detector: nn.Module):
        super().__init__()
        head = detector.bbox_head
        if type(head).__name__ not in ('RetinaHead', 'AnchorHead', 'RetinaSepBNHead'):
            raise ExportError(f'dense head {type(head).__name__} is not supported '
                              '(RetinaHead and AnchorHead are)')
        self.preprocess = Preprocess.from_model(detector)
        self.detector = detector
        self.decode = _delta_decoder(head.bbox_coder)
        cfg = head.test_cfg
        self.nms_pre = int(cfg.get('nms_pre', -1))
        self.score_thr = float(cfg.get('score_thr', 0.))
        self.min_bbox_size = float(cfg.get('min_bbox_size', -1))
        self.max_per_img = int(cfg.get('max_per_img', 100))
        self.iou_threshold, self.class_agnostic = _nms_settings(cfg)
        if self.score_thr < 0:
            raise ExportError(f'score_thr={self.score_thr} < 0 is not supported')

    def forward(self, image: torch.Tensor):
        shape = shape_of(image)
        head = self.detector.bbox_head
        x = self.preprocess(image)
        cls_scores, bbox_preds = head(self.detector.extract_feat(x))
        priors = head.prior_generator.grid_priors(
            [c.shape[-2:] for c in cls_scores], dtype=x.dtype, device=x.device)
        channels = head.cls_out_channels
        all_boxes, all_scores, all_labels = [], [], []
        for cls_score, bbox_pred, level_priors in zip(cls_scores, bbox_preds, priors):
            logits, deltas = _flat_level(cls_score[0], bbox_pred[0], channels)
            if head.use_sigmoid_cls:
                scores = logits.sigmoid()
            else:
                scores = logits.softmax(-1)[:, :-1]
            num_classes = scores.shape[1]
            flat = scores.reshape(-1)
            if self.nms_pre > 0:
                top, index = topk_padded(flat, self.nms_pre)
            else:
                top, index = flat, torch.arange(shape_of(flat)[0])
            valid = top > self.score_thr  # also drops topk_padded's fill (-1)
            top, index = top[valid], index[valid]
            anchor = torch.div(index, num_classes, rounding_mode='floor')
            all_boxes.append(self.decode(level_priors[anchor], deltas[anchor]))
            all_scores.append(top)
            all_labels.append(index - anchor * num_classes)
        boxes = clip_boxes(torch.cat(all_boxes), shape[2], shape[3])
        scores, labels = torch.cat(all_scores), torch.cat(all_labels)
        if self.min_bbox_size >= 0:
            keep = _min_size_mask(boxes, self.min_bbox_size)
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        keep = batched_nms(boxes, scores, labels, self.iou_threshold,
                           self.class_agnostic)[:self.max_per_img]
        return boxes[keep], scores[keep], labels[keep]


class TwoStageDetectorGraph(nn.Module):
    """Faster / Mask R-CNN (``StandardRoIHead``): one image -> ``boxes``, ``scores``,
    ``labels`` as :class:`DenseDetectorGraph`, and with a mask head ``masks`` (N, h, w): each
    box's mask probabilities (sigmoid, its label's channel) on the mask head's grid (28x28),
    to be pasted into the image by :func:`mmseq.deployment.postprocess.det_data_sample`.

    The RPN follows ``RPNHead.predict_by_feat`` (``nms_pre`` per level, NMS within each level,
    ``max_per_img`` proposals); the box head ``multiclass_nms`` (boxes scoring above
    ``score_thr``, NMS within each class, the ``max_per_img`` best); RoI features come from every
    pyramid level's RoI Align, each RoI keeping the level mmdet assigns it."""
    task = 'detection'
    input_name = 'image'
    output_names = ['boxes', 'scores', 'labels']
    # One image per run: the candidates' number differs from image to image.
    dynamic_axes = {'image': {2: 'height', 3: 'width'}, 'boxes': {0: 'num_dets'},
                    'scores': {0: 'num_dets'}, 'labels': {0: 'num_dets'}}

    def __init__(self, detector: nn.Module):
        super().__init__()
        roi_head = detector.roi_head
        if type(roi_head).__name__ != 'StandardRoIHead':
            raise ExportError(f'RoI head {type(roi_head).__name__} is not supported '
                              '(StandardRoIHead, as in Faster and Mask R-CNN, is)')
        if roi_head.with_shared_head:
            raise ExportError('RoI heads with a shared head are not supported')
        if roi_head.bbox_head.reg_class_agnostic or roi_head.bbox_head.custom_cls_channels:
            raise ExportError('class-agnostic box regression and custom classification '
                              'channels are not supported')
        self.preprocess = Preprocess.from_model(detector)
        self.detector = detector
        self.with_mask = roi_head.with_mask
        if self.with_mask:
            self.task = 'instance_segmentation'
            self.output_names = self.output_names + ['masks']
            self.dynamic_axes = {**self.dynamic_axes, 'masks': {0: 'num_dets'}}
        if self.with_mask and roi_head.mask_head.class_agnostic:
            raise ExportError('class-agnostic mask heads are not supported')
        rpn_cfg = detector.rpn_head.test_cfg
        self.rpn_decode = _delta_decoder(detector.rpn_head.bbox_coder)
        self.rpn_nms_pre = int(rpn_cfg.get('nms_pre', -1))
        self.rpn_min_size = float(rpn_cfg.get('min_bbox_size', -1))
        self.rpn_max = int(rpn_cfg.get('max_per_img', 1000))
        self.rpn_iou, _ = _nms_settings(rpn_cfg)
        rcnn_cfg = roi_head.test_cfg
        self.rcnn_decode = _delta_decoder(roi_head.bbox_head.bbox_coder)
        self.score_thr = float(rcnn_cfg.get('score_thr', 0.))
        self.max_per_img = int(rcnn_cfg.get('max_per_img', 100))
        self.iou_threshold, self.class_agnostic = _nms_settings(rcnn_cfg)

    def proposals(self, feats: List[torch.Tensor], height, width) -> torch.Tensor:
        rpn = self.detector.rpn_head
        cls_scores, bbox_preds = rpn(feats)
        priors = rpn.prior_generator.grid_priors(
            [c.shape[-2:] for c in cls_scores], dtype=feats[0].dtype, device=feats[0].device)
        all_boxes, all_scores, all_levels = [], [], []
        for level, (cls_score, bbox_pred, level_priors) in enumerate(
                zip(cls_scores, bbox_preds, priors)):
            logits, deltas = _flat_level(cls_score[0], bbox_pred[0], rpn.cls_out_channels)
            if rpn.use_sigmoid_cls:
                scores = logits.sigmoid().reshape(-1)
            else:
                scores = logits.softmax(-1)[:, 0]
            if self.rpn_nms_pre > 0:
                top, index = topk_padded(scores, self.rpn_nms_pre)
                real = top >= 0  # drops topk_padded's fill (-1)
                top, index = top[real], index[real]
            else:
                top, index = scores, torch.arange(shape_of(scores)[0])
            all_boxes.append(self.rpn_decode(level_priors[index], deltas[index]))
            all_scores.append(top)
            all_levels.append(torch.full_like(index, level))
        boxes = clip_boxes(torch.cat(all_boxes), height, width)
        scores, levels = torch.cat(all_scores), torch.cat(all_levels)
        if self.rpn_min_size >= 0:
            keep = _min_size_mask(boxes, self.rpn_min_size)
            boxes, scores, levels = boxes[keep], scores[keep], levels[keep]
        keep = batched_nms(boxes, scores, levels, self.rpn_iou)[:self.rpn_max]
        return boxes[keep]

    def forward(self, image: torch.Tensor):
        shape = shape_of(image)
        roi_head = self.detector.roi_head
        x = self.preprocess(image)
        feats = self.detector.extract_feat(x)
        proposals = self.proposals(feats, shape[2], shape[3])
        rois = torch.cat([torch.zeros_like(proposals[:, :1]), proposals], 1)
        roi_feats = multilevel_roi_align(roi_head.bbox_roi_extractor, feats, rois)
        cls_score, bbox_pred = roi_head.bbox_head(roi_feats)
        num_classes = roi_head.bbox_head.num_classes
        scores = F.softmax(cls_score, dim=-1)[:, :-1]  # (N, C)
        boxes = self.rcnn_decode(proposals[:, None].expand(-1, num_classes, -1).reshape(-1, 4),
                                 bbox_pred.reshape(-1, 4))
        boxes = clip_boxes(boxes, shape[2], shape[3]).reshape(-1, num_classes, 4)
        if self.class_agnostic:
            labels = (torch.zeros_like(scores, dtype=torch.long)
                      + torch.arange(num_classes)).reshape(-1)
            boxes, scores = boxes.reshape(-1, 4), scores.reshape(-1)
            valid = scores > self.score_thr
            boxes, scores, labels = boxes[valid], scores[valid], labels[valid]
            keep = batched_nms(boxes, scores, labels, self.iou_threshold,
                               True)[:self.max_per_img]
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        else:
            labels, roi = per_class_nms(boxes, scores, self.iou_threshold, self.score_thr)
            kept = scores[roi, labels]
            top, order = topk_padded(kept, self.max_per_img)
            order = order[top > -1]  # drops topk_padded's fill
            labels, roi = labels[order], roi[order]
            boxes, scores = boxes[roi, labels], scores[roi, labels]
        if not self.with_mask:
            return boxes, scores, labels
        mask_rois = torch.cat([torch.zeros_like(boxes[:, :1]), boxes], 1)
        mask_feats = multilevel_roi_align(roi_head.mask_roi_extractor, feats, mask_rois)
        mask_preds = roi_head.mask_head(mask_feats)
        masks = mask_preds[torch.arange(shape_of(labels)[0]), labels].sigmoid()
        return boxes, scores, labels, masks


def graph_of(model: nn.Module, backbone_only: bool = False) -> nn.Module:
    """The export module for a built model (eval mode, reference mixers), or
    :class:`ExportError` naming what is not supported."""
    if backbone_only:
        return BackboneGraph(getattr(model, 'backbone', model))
    kind = type(model).__name__
    if not hasattr(model, 'backbone'):  # a bare backbone config
        return BackboneGraph(model)
    if kind == 'ImageClassifier':
        return ClassifierGraph(model)
    if kind == 'EncoderDecoder':
        return SegmentorGraph(model)
    if kind in ('RetinaNet', ) or (hasattr(model, 'bbox_head') and not hasattr(model, 'roi_head')
                                   and kind == 'SingleStageDetector'):
        return DenseDetectorGraph(model)
    if kind in ('MaskRCNN', 'FasterRCNN') or (
            hasattr(model, 'roi_head') and kind == 'TwoStageDetector'):
        return TwoStageDetectorGraph(model)
    raise ExportError(
        f'no whole-model ONNX export for {kind}; supported: EncoderDecoder (Semantic FPN, '
        'UperNet), RetinaNet, Faster/Mask R-CNN, ImageClassifier; export its backbone '
        'with --backbone-only')
