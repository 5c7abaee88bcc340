"""Semantic FPN head for pyramids whose strides are not 4/8/16/32.

mmseg's ``FPNHead`` ties two things to ``feature_strides``: how many 3x3 convs a level gets
and how many x2 upsamplings follow them (``log2(stride / first stride)`` of each). For
Sequencer2D (strides 7, 14, 14, 14) that cannot describe the paper's head truthfully: with the
real strides every level gets one conv, and the paper's parameter counts (Table 3) are those of
the 1/1/2/3-conv head that a 4/8/16/32 pyramid gets; with fake 4/8/16/32 strides the deeper
levels are upsampled to stride 3.5 and 1.75 and then resized back. Here the two are separate:
``num_convs`` sets the depth, ``feature_strides`` (the real ones) set the upsampling.
"""
from typing import List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import resize

from mmseq.registry import MODELS


@MODELS.register_module()
class StridedFPNHead(BaseDecodeHead):
    """Semantic FPN head (Kirillov et al., 2019) with per-level conv depth set apart from the
    strides.

    Each level goes through ``num_convs[i]`` ConvModules (3x3) at its own resolution, is
    upsampled bilinearly by ``feature_strides[i] / feature_strides[0]`` to the first level's
    grid, and the levels are summed; ``cls_seg`` then gives logits at ``feature_strides[0]``.

    Args:
        feature_strides: the true stride of every input level. The first must be the smallest
            and every stride an integer multiple of it.
        num_convs: 3x3 convs per level. ``None`` follows mmseg's ``FPNHead`` rule,
            ``max(1, log2(stride / first stride))``, which needs power-of-two ratios.
        **kwargs: :class:`BaseDecodeHead` arguments (``in_channels`` one per level,
            ``channels``, ``num_classes``, ``dropout_ratio``, ``norm_cfg``, ...).
    """

    def __init__(self,
                 feature_strides: Sequence[int],
                 num_convs: Optional[Sequence[int]] = None,
                 **kwargs):
        super().__init__(input_transform='multiple_select', **kwargs)
        feature_strides = [int(s) for s in feature_strides]
        if len(feature_strides) != len(self.in_channels):
            raise ValueError(f'feature_strides has {len(feature_strides)} entries but '
                             f'in_channels has {len(self.in_channels)}')
        if min(feature_strides) != feature_strides[0] or feature_strides[0] <= 0:
            raise ValueError('the first feature stride must be the smallest (positive) one, '
                             f'got {feature_strides}')
        ratios = []
        for s in feature_strides:
            if s % feature_strides[0]:
                raise ValueError(f'every stride must be a multiple of the first one so the '
                                 f'levels land on its grid, got {feature_strides}')
            ratios.append(s // feature_strides[0])
        if num_convs is None:
            log_ratios = [np.log2(r) for r in ratios]
            if any(abs(lr - round(lr)) > 1e-6 for lr in log_ratios):
                raise ValueError('num_convs must be given when the stride ratios are not '
                                 f'powers of two, got strides {feature_strides}')
            num_convs = [max(1, int(round(lr))) for lr in log_ratios]
        num_convs = [int(n) for n in num_convs]
        if len(num_convs) != len(feature_strides) or min(num_convs) < 1:
            raise ValueError(f'num_convs needs one entry >= 1 per level, got {num_convs}')
        self.feature_strides = feature_strides
        self.upsample_ratios = ratios
        self.num_convs = num_convs

        self.scale_heads = nn.ModuleList()
        for in_ch, depth in zip(self.in_channels, num_convs):
            self.scale_heads.append(nn.Sequential(*[
                ConvModule(
                    in_ch if k == 0 else self.channels,
                    self.channels,
                    3,
                    padding=1,
                    conv_cfg=self.conv_cfg,
                    norm_cfg=self.norm_cfg,
                    act_cfg=self.act_cfg) for k in range(depth)
            ]))

    def forward(self, inputs: List[torch.Tensor]) -> torch.Tensor:
        x = self._transform_inputs(inputs)
        output = self.scale_heads[0](x[0])
        for i in range(1, len(x)):
            level = self.scale_heads[i](x[i])
            if level.shape[2:] != output.shape[2:]:
                # With the backbone's padding this is an exact x(stride ratio) upsampling.
                level = resize(level, size=output.shape[2:], mode='bilinear',
                               align_corners=self.align_corners)
            output = output + level
        return self.cls_seg(output)
