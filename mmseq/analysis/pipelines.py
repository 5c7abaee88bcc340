"""Images and test pipelines for the analyses: a config's pipeline re-targeted to another
resolution, image folders and the preprocessed input batch."""
import copy
import math
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope

from .models import is_sequencer

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


def default_resolutions(cfg: Config, low: int = 112, high: int = 448) -> List[int]:
    """Fig. 3a/b: Sequencer is stepped by 28 px (multiples of its stride 14 need no padding),
    other models by 32."""
    step = 28 if is_sequencer(cfg) else 32
    start = int(math.ceil(low / step) * step)
    return list(range(start, high + 1, step))


def _size_of(value) -> int:
    """One side of a scale/crop_size entry (int, or a square (w, h) pair)."""
    if isinstance(value, int):
        return value
    if isinstance(value, (list, tuple)) and len(value) == 2 and value[0] == value[1]:
        return int(value[0])
    raise ValueError(f'expected a square size, got {value!r}')


def _find_resize_crop(pipeline: Sequence[dict]) -> Tuple[Optional[int], Optional[int]]:
    crop = resize = None
    for i, t in enumerate(pipeline):
        if t['type'] == 'CenterCrop':
            crop = i
        elif t['type'] in ('ResizeEdge', 'Resize') and crop is None:
            resize = i
    return resize, crop


def train_resolution(pipeline: Sequence[dict]) -> int:
    """The size the test pipeline feeds the model (its centre crop, or a square resize)."""
    resize, crop = _find_resize_crop(pipeline)
    if crop is not None:
        return _size_of(pipeline[crop]['crop_size'])
    if resize is not None and pipeline[resize]['type'] == 'Resize':
        return _size_of(pipeline[resize]['scale'])
    raise ValueError('cannot tell the input resolution of this test pipeline (it needs a '
                     f'CenterCrop or a square Resize): {[t["type"] for t in pipeline]}')


def pipeline_at_resolution(pipeline: Sequence[dict], resolution: int) -> list:
    """Copy of a classification test pipeline that outputs ``resolution`` x ``resolution``
    images, keeping the config's crop ratio (e.g. ResizeEdge 256 -> CenterCrop 224 becomes
    ResizeEdge floor(r / 0.875) -> CenterCrop r, as timm's ``crop_pct`` does)."""
    pipeline = copy.deepcopy(list(pipeline))
    resize, crop = _find_resize_crop(pipeline)
    if crop is not None:
        old_crop = _size_of(pipeline[crop]['crop_size'])
        pipeline[crop]['crop_size'] = resolution
        if resize is not None:
            t = pipeline[resize]
            old_scale = _size_of(t['scale'])
            # round() first: 252 * 256 / 224 is 288.00000000000006 in floating point.
            new_scale = int(math.floor(round(resolution * old_scale / old_crop, 6)))
            t['scale'] = new_scale if isinstance(t['scale'], int) else (new_scale, new_scale)
        return pipeline
    if resize is not None and pipeline[resize]['type'] == 'Resize':
        pipeline[resize]['scale'] = (resolution, resolution)
        return pipeline
    raise ValueError('cannot re-target this test pipeline to another resolution (expected '
                     f'[Resize|ResizeEdge] + CenterCrop): {[t["type"] for t in pipeline]}')


def list_images(folder: str, limit: Optional[int] = None) -> List[str]:
    """Image files under ``folder`` (recursively), sorted, at most ``limit``."""
    if not osp.isdir(folder):
        raise FileNotFoundError(f'no such image folder: {folder}')
    paths = sorted(
        osp.join(root, f) for root, _, files in os.walk(folder) for f in files
        if f.lower().endswith(IMAGE_EXTS))
    if not paths:
        raise FileNotFoundError(f'no images ({", ".join(IMAGE_EXTS)}) under {folder}')
    return paths[:limit] if limit else paths


def load_inputs(model: nn.Module, paths: Sequence[str], pipeline: Sequence[dict]
                ) -> torch.Tensor:
    """Images -> the config's pipeline -> the model's data preprocessor -> (B, 3, H, W)."""
    init_default_scope(model.cfg.get('default_scope', 'mmpretrain'))
    compose = Compose([t for t in pipeline if 'LoadAnnotations' not in t['type']])
    data = pseudo_collate([compose(dict(img_path=p)) for p in paths])
    with torch.no_grad():
        return model.data_preprocessor(data, False)['inputs']
