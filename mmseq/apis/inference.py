"""Build any mmseq config's model (classifier, segmentor or detector) for inference.

The config's ``default_scope`` (mmpretrain / mmseg / mmdet) picks the library whose registries
build the model, exactly as the training tools do, so one function serves all three tasks.
"""
import copy
from typing import Optional, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.dataset import Compose, pseudo_collate
from mmengine.model import BaseTTAModel
from mmengine.registry import MODELS, init_default_scope

from mmseq.utils import get_test_pipeline, load_checkpoint_weights_only, load_config
from mmseq.utils.config import ConfigType


def _state_dict_of(ckpt: dict) -> dict:
    state_dict = ckpt.get('state_dict', ckpt.get('model', ckpt))
    if not isinstance(state_dict, dict):
        raise TypeError('checkpoint has no state dict (expected a dict or a "state_dict" key)')
    # DDP-wrapped saves prefix every key with "module."
    if state_dict and all(k.startswith('module.') for k in state_dict):
        state_dict = {k[len('module.'):]: v for k, v in state_dict.items()}
    return state_dict


def init_model(config: ConfigType,
               checkpoint: Optional[str] = None,
               device: Union[str, torch.device] = 'cpu',
               cfg_options: Optional[dict] = None) -> nn.Module:
    """Build the model of an mmseq config, optionally load weights, return it in eval mode.

    Args:
        config: config file or :obj:`mmengine.Config`.
        checkpoint: a full-model checkpoint (e.g. one written by ``tools/train.py``): a file,
            or an ``http(s)://`` URL of one (downloaded once into torch hub's cache,
            ``$TORCH_HOME/hub/checkpoints``). It is loaded with ``weights_only=True`` and
            ``strict=True``. Without it the model keeps its random initialisation.
        device: where to put the model.
        cfg_options: overrides merged into the config first.

    Returns:
        The model in eval mode, with the config attached as ``model.cfg`` and, when the
        checkpoint records it, the dataset's class names/palette as ``model.dataset_meta``.
    """
    config = load_config(config, cfg_options)
    model_cfg = config.model
    # The IN-1K backbone weights are a training input; at inference the full checkpoint
    # (or a random init) is wanted, and a missing pretrained file must not stop the build.
    backbone = model_cfg.get('backbone')
    if isinstance(backbone, dict) and 'init_cfg' in backbone:
        backbone.init_cfg = None
    model_cfg.pop('pretrained', None)
    # mmengine's Runner hands the top-level data_preprocessor (mean/std/to_rgb) to the model;
    # a model built here must normalise the same way.
    if config.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', copy.deepcopy(config.data_preprocessor))
    init_default_scope(config.get('default_scope', 'mmseq'))
    model = MODELS.build(model_cfg)

    if checkpoint is not None:
        ckpt = load_checkpoint_weights_only(checkpoint)
        # a test-time augmentation wrapper (the *_ms configs) takes the trained model's weights
        target = model.module if isinstance(model, BaseTTAModel) else model
        target.load_state_dict(_state_dict_of(ckpt), strict=True)
        meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
        if isinstance(meta, dict) and meta.get('dataset_meta'):
            model.dataset_meta = meta['dataset_meta']
    model.cfg = config
    model.to(device)
    model.eval()
    return model


def inference_model(model: nn.Module, img: Union[str, np.ndarray]):
    """Run one image (a path, or a BGR uint8 array) through the config's test pipeline and
    ``model.test_step``; returns the task's data sample (SegDataSample / DetDataSample)."""
    # Ground truth is not needed (and not present) for a single image.
    pipeline = [t for t in get_test_pipeline(model.cfg) if 'LoadAnnotations' not in t['type']]
    if isinstance(img, np.ndarray):
        pipeline[0] = dict(type='LoadImageFromNDArray')
        data = dict(img=img)
    else:
        data = dict(img_path=str(img))
    init_default_scope(model.cfg.get('default_scope', 'mmseq'))
    data = Compose(pipeline)(data)
    with torch.no_grad():
        results = model.test_step(pseudo_collate([data]))
    return results[0]


__all__ = ['init_model', 'inference_model']
