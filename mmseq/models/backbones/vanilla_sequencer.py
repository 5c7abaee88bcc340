"""Vanilla Sequencer (paper Sec. 3.2, Table 5): blocks whose token mixer is one plain BiLSTM
over the raster-scanned token sequence instead of BiLSTM2D."""
from typing import Dict, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmseq.registry import MODELS
from ..layers import DropPath, Mlp
from .base import Downsample, SequencerBackboneBase, resolve_arch
from .sequencer2d import SequencerStage


class BiLSTM1D(nn.Module):
    """A BiLSTM over the H*W tokens in raster order (row by row)."""

    def __init__(self, dim: int, hidden_size: int, with_fc: bool = False):
        super().__init__()
        if not with_fc and 2 * hidden_size != dim:
            raise ValueError(f'with_fc=False needs 2 * hidden_size == dim, got hidden_size='
                             f'{hidden_size}, dim={dim}')
        self.rnn = nn.LSTM(dim, hidden_size, num_layers=1, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(2 * hidden_size, dim) if with_fc else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        out = self.rnn(x.reshape(B, H * W, C))[0].reshape(B, H, W, -1)
        return self.fc(out) if self.fc is not None else out


class VanillaSequencerBlock(nn.Module):

    def __init__(self, dim: int, hidden_size: int, mlp_ratio: float, drop_path: float = 0.,
                 with_fc: bool = False):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.token_mixer = BiLSTM1D(dim, hidden_size, with_fc=with_fc)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(mlp_ratio * dim))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.token_mixer(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


@MODELS.register_module()
class VanillaSequencer(SequencerBackboneBase):
    """VSequencer backbones of Table 5.

    Args:
        arch: 's' (VSequencer-S: 14x14 stem, 384 channels throughout), 's-h' (VSequencer-S(H):
            hierarchical, 7x7 stem then 2x2 downsample), 's-pe' (VSequencer-S(PE): 's' with a
            learned positional embedding), or a custom dict (keys as Sequencer2D's, plus
            optional ``pos_embed``).
        pos_embed_size: token grid the positional embedding is stored at (224 / 14 = 16);
            other input sizes interpolate it bicubically.
        Other arguments as in :class:`Sequencer2D`.
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
        patch_sizes = list(self.arch['patch_sizes'])
        super().__init__(in_channels, patch_sizes, drop_path_rate, out_indices, frozen_stages,
                         norm_eval, with_cp, init_cfg)
        layers = list(self.arch['layers'])
        embed_dims = list(self.arch['embed_dims'])
        self.stem = nn.Conv2d(in_channels, embed_dims[0], kernel_size=patch_sizes[0],
                              stride=patch_sizes[0])
        if self.arch.get('pos_embed', False):
            self.pos_embed = nn.Parameter(torch.zeros(1, pos_embed_size, pos_embed_size,
                                                      embed_dims[0]))
            self.frozen_stem_extras = [self.pos_embed]
        else:
            self.pos_embed = None
        dpr = torch.linspace(0, drop_path_rate, sum(layers)).tolist()
        self.stages = nn.ModuleList()
        block_index = 0
        for i, depth in enumerate(layers):
            downsample = (Downsample(embed_dims[i - 1], embed_dims[i], patch_sizes[i]) if i > 0
                          else nn.Identity())
            blocks = [
                VanillaSequencerBlock(embed_dims[i], self.arch['hidden_sizes'][i],
                                      self.arch['mlp_ratios'][i], dpr[block_index + j], with_fc)
                for j in range(depth)
            ]
            block_index += depth
            self.stages.append(SequencerStage(downsample, blocks))
        self.embed_dims = embed_dims
        self._finish_init(embed_dims)

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
