"""Vanilla Sequencer (paper Sec. 3.2, Table 5): blocks whose token mixer is one plain BiLSTM
over the raster-scanned token sequence instead of BiLSTM2D."""
from functools import partial
from typing import Dict, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmseq.registry import MODELS
from ..layers import BiLSTM1D
from .base import SequencerBackboneBase, resolve_arch


@MODELS.register_module()
class VanillaSequencer(SequencerBackboneBase):
    """The Vanilla Sequencers of the paper's Table 5: one BiLSTM over the raster-scanned
    tokens per block instead of BiLSTM2D.

    Args:
        arch (str | dict): 's' (VSequencer-S: 14x14 stem, 384 channels throughout), 's-h'
            (VSequencer-S(H): hierarchical, 7x7 stem then 2x2 downsample), 's-pe'
            (VSequencer-S(PE): 's' with a learned positional embedding), or a dict with the
            keys of :class:`Sequencer2D`'s and an optional ``pos_embed``. Defaults to 's'.
        in_channels (int): Image channels. Defaults to 3.
        with_fc (bool): A linear layer after each BiLSTM. Defaults to False.
        pos_embed_size (int): Token grid the positional embedding is stored at (224 / 14);
            other input sizes interpolate it bicubically. Defaults to 16.
        drop_path_rate, out_indices, frozen_stages, norm_eval, with_cp, init_cfg: As in
            :class:`Sequencer2D`; ``frozen_stages >= 0`` freezes the positional embedding
            with the stem.

    Example:
        >>> import torch
        >>> from mmseq.models import VanillaSequencer
        >>> model = VanillaSequencer(arch='s').eval()
        >>> with torch.no_grad():
        ...     print(model(torch.rand(1, 3, 224, 224))[-1].shape)
        torch.Size([1, 384, 16, 16])
    """

    arch_zoo = {
        **dict.fromkeys(['s', 'vsequencer-s'], dict(
            layers=[4, 3, 8, 3], patch_sizes=[14, 1, 1, 1], embed_dims=[384] * 4,
            hidden_sizes=[192] * 4, mlp_ratios=[3.0] * 4, pos_embed=False)),
        **dict.fromkeys(['s-h', 'vsequencer-s(h)'], dict(
            layers=[4, 3, 8, 3], patch_sizes=[7, 2, 1, 1], embed_dims=[192, 384, 384, 384],
            hidden_sizes=[96, 192, 192, 192], mlp_ratios=[3.0] * 4, pos_embed=False)),
        **dict.fromkeys(['s-pe', 'vsequencer-s(pe)'], dict(
            layers=[4, 3, 8, 3], patch_sizes=[14, 1, 1, 1], embed_dims=[384] * 4,
            hidden_sizes=[192] * 4, mlp_ratios=[3.0] * 4, pos_embed=True)),
    }

    def __init__(self,
                 arch: Union[str, Dict] = 's',
                 in_channels: int = 3,
                 with_fc: bool = False,
                 pos_embed_size: int = 16,
                 drop_path_rate: float = 0.,
                 out_indices: Union[int, Sequence[int]] = -1,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg: Optional[Union[Dict, list]] = None):
        self.arch = resolve_arch(arch, self.arch_zoo)
        super().__init__(self.arch, partial(BiLSTM1D, with_fc=with_fc), in_channels,
                         drop_path_rate, out_indices, frozen_stages, norm_eval, with_cp,
                         init_cfg)
        self.pos_embed = None
        if self.arch.get('pos_embed', False):
            self.pos_embed = nn.Parameter(torch.zeros(1, pos_embed_size, pos_embed_size,
                                                      self.embed_dims[0]))
            # part of the stem for frozen_stages >= 0
            self.pos_embed.requires_grad = frozen_stages < 0

    def init_weights(self) -> None:
        super().init_weights()
        if self.pos_embed is not None and self.init_cfg is None:
            nn.init.trunc_normal_(self.pos_embed, std=.02)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        x = super().embed(x)
        if self.pos_embed is None:
            return x
        pos = self.pos_embed
        if pos.shape[1:3] != x.shape[1:3]:
            pos = F.interpolate(pos.permute(0, 3, 1, 2), size=x.shape[1:3], mode='bicubic',
                                align_corners=False).permute(0, 2, 3, 1)
        return x + pos
