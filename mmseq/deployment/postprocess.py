"""The post-processing that needs the original image's size, outside the ONNX graph: one
function per task, used by the inference tool, the agreement check and the tests alike.

It is the last step of the models' own ``predict``: mmseg's ``postprocess_result`` (logits
resized bilinearly to the original size, then argmax) and, for detectors, mmdet's rescaling
of the boxes by the test pipeline's scale factor and ``FCNMaskHead``'s pasting of each box's
28x28 mask into the original image (per box, as on CPU), thresholded at ``mask_thr_binary``.
"""
from typing import Optional

import numpy as np
import torch
from mmengine.structures import InstanceData, PixelData


def _tensor(x) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))


def seg_data_sample(logits, metainfo: dict, align_corners: bool = False,
                    threshold: Optional[float] = None):
    """(C, H, W) logits of the graph (at the resized image's size) -> a ``SegDataSample``
    with ``seg_logits`` and ``pred_sem_seg`` at ``metainfo['ori_shape']``."""
    from mmseg.models.utils import resize
    from mmseg.structures import SegDataSample
    logits = _tensor(logits).float()[None]
    logits = resize(logits, size=metainfo['ori_shape'][:2], mode='bilinear',
                    align_corners=align_corners, warning=False)[0]
    if logits.shape[0] > 1:
        pred = logits.argmax(dim=0, keepdim=True)
    else:
        logits = logits.sigmoid()
        pred = (logits > (0.3 if threshold is None else threshold)).to(logits)
    sample = SegDataSample(metainfo=metainfo)
    sample.seg_logits = PixelData(data=logits)
    sample.pred_sem_seg = PixelData(data=pred)
    return sample


def paste_masks(masks: torch.Tensor, boxes: torch.Tensor, height: int, width: int,
                threshold: float = 0.5) -> torch.Tensor:
    """(N, h, w) mask probabilities inside (N, 4) boxes -> (N, height, width) bool masks."""
    from mmdet.models.roi_heads.mask_heads.fcn_mask_head import _do_paste_mask
    out = torch.zeros(len(masks), height, width, dtype=torch.bool)
    for i in range(len(masks)):
        pasted, spatial = _do_paste_mask(masks[i:i + 1, None], boxes[i:i + 1], height, width,
                                         skip_empty=True)
        out[(slice(i, i + 1), ) + spatial] = pasted >= threshold
    return out


def det_data_sample(boxes, scores, labels, metainfo: dict, masks=None,
                    mask_thr_binary: float = 0.5):
    """The graph's detections (boxes in the resized image's pixels) -> a ``DetDataSample``
    whose ``pred_instances`` are in the original image's pixels, with pasted ``masks`` when
    the graph has them."""
    from mmdet.structures import DetDataSample
    boxes = _tensor(boxes).float()
    scale = boxes.new_tensor(metainfo.get('scale_factor', (1., 1.))).repeat(2)
    instances = InstanceData()
    instances.bboxes = boxes / scale
    instances.scores = _tensor(scores).float()
    instances.labels = _tensor(labels).long()
    if masks is not None:
        height, width = metainfo['ori_shape'][:2]
        instances.masks = paste_masks(_tensor(masks).float(), instances.bboxes, height, width,
                                      mask_thr_binary)
    sample = DetDataSample(metainfo=metainfo)
    sample.pred_instances = instances
    return sample
