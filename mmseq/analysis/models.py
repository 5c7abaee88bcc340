"""The model an analysis runs on: built from its config, with the config's own init."""
from typing import Optional, Union

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.logging import MMLogger

from mmseq.apis import init_model


def build_model(cfg: Config, checkpoint: Optional[str] = None,
                device: Union[str, torch.device] = 'cpu') -> nn.Module:
    """The config's model in eval mode, with ``checkpoint`` (weights only) or random init."""
    model = init_model(cfg, checkpoint, device=device)
    if checkpoint is None and hasattr(model, 'init_weights'):
        # init_model keeps the constructors' defaults; the configs' init (e.g. Sequencer's
        # timm init, TruncNormal for ViTs) is what "random init" means for an analysis.
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel('WARNING')  # init_weights logs every parameter at INFO
        try:
            model.init_weights()
        finally:
            logger.setLevel(level)
    return model.eval()


def backbone_type(cfg: Config) -> str:
    backbone = cfg.model.get('backbone', cfg.model)
    return str(backbone.get('type', ''))


def is_sequencer(cfg: Config) -> bool:
    return 'sequencer' in backbone_type(cfg).lower()
