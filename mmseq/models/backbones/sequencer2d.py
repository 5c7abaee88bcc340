"""Sequencer2D (Tatsunami & Taki, NeurIPS 2022): a hierarchical backbone whose token mixer is
the BiLSTM2D layer. Architecture from the paper's Table 4; numerics equal timm's Sequencer2d."""
from typing import Dict, Optional, Sequence, Union

import torch
import torch.nn as nn

from mmseq.registry import MODELS
from ..layers import DropPath, Mlp, build_token_mixer
from ..layers.inplace import may_overwrite
from .base import Downsample, SequencerBackboneBase, resolve_arch


class Sequencer2DBlock(nn.Module):
    """x + DropPath(BiLSTM2D(LN(x))), then x + DropPath(MLP(LN(x))) on (B, H, W, C) tokens."""

    def __init__(self, dim: int, hidden_size: int, mlp_ratio: float, drop_path: float = 0.,
                 mixer_cfg: Optional[Dict] = None):
        super().__init__()
        mixer_cfg = dict(mixer_cfg or {})
        impl = mixer_cfg.pop('impl', 'auto')
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.token_mixer = build_token_mixer(impl, dim, hidden_size, **mixer_cfg)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(mlp_ratio * dim))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not may_overwrite(self.token_mixer, self.mlp, self.drop_path):
            x = x + self.drop_path(self.token_mixer(self.norm1(x)))
            return x + self.drop_path(self.mlp(self.norm2(x)))
        # Inference: add the residual into the branch's fresh output (same sums, one
        # allocation less per residual; ~5% of the step on CPU).
        x = self.drop_path(self.token_mixer(self.norm1(x))).add_(x)
        return self.drop_path(self.mlp(self.norm2(x))).add_(x)


class SequencerStage(nn.Module):
    """Optional downsample followed by a run of blocks (kept as two attributes so the
    backbone can checkpoint block by block)."""

    def __init__(self, downsample: nn.Module, blocks: Sequence[nn.Module]):
        super().__init__()
        self.downsample = downsample
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))


@MODELS.register_module()
class Sequencer2D(SequencerBackboneBase):
    """Sequencer2D backbone.

    Stage strides are 7, 14, 14, 14 (the last two stages keep the resolution and change
    channels with a point-wise linear). Inputs of any size are zero-padded on the right and
    bottom to a multiple of the total stride (14), never cropped.

    Args:
        arch: 's'/'small', 'm'/'medium', 'l'/'large', or a dict with keys ``layers``,
            ``patch_sizes``, ``embed_dims``, ``hidden_sizes``, ``mlp_ratios`` (one entry
            per stage).
        in_channels: image channels.
        hidden_ratio: multiplies every stage's hidden size D (Table 2d uses 2).
        rnn_type / bidirectional / union / with_fc: BiLSTM2D ablations (Table 2, 12a).
        mixer_impl: BiLSTM2D implementation ('auto', 'reference' or a registered fast one).
        drop_path_rate: stochastic depth, ramped linearly from 0 over all blocks.
        out_indices: stages whose (LayerNorm-ed) outputs are returned, as NCHW maps.
        frozen_stages: -1 none, 0 the stem, k the stem and the first k stages.
        norm_eval: keep norm layers in eval mode during training.
        with_cp: activation checkpointing per block (saves memory, costs a recompute).
        init_cfg: mmengine init config, e.g.
            ``dict(type='Pretrained', checkpoint=..., prefix='backbone.')``.
    """

    arch_zoo = {
        **dict.fromkeys(['s', 'small'], dict(
            layers=[4, 3, 8, 3], patch_sizes=[7, 2, 1, 1], embed_dims=[192, 384, 384, 384],
            hidden_sizes=[48, 96, 96, 96], mlp_ratios=[3.0, 3.0, 3.0, 3.0])),
        **dict.fromkeys(['m', 'medium'], dict(
            layers=[4, 3, 14, 3], patch_sizes=[7, 2, 1, 1], embed_dims=[192, 384, 384, 384],
            hidden_sizes=[48, 96, 96, 96], mlp_ratios=[3.0, 3.0, 3.0, 3.0])),
        **dict.fromkeys(['l', 'large'], dict(
            layers=[8, 8, 16, 4], patch_sizes=[7, 2, 1, 1], embed_dims=[192, 384, 384, 384],
            hidden_sizes=[48, 96, 96, 96], mlp_ratios=[3.0, 3.0, 3.0, 3.0])),
    }

    def __init__(self,
                 arch: Union[str, Dict] = 's',
                 in_channels: int = 3,
                 hidden_ratio: float = 1.0,
                 rnn_type: str = 'lstm',
                 bidirectional: bool = True,
                 union: str = 'cat',
                 with_fc: bool = True,
                 mixer_impl: str = 'auto',
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
        if hidden_ratio <= 0:
            raise ValueError(f'hidden_ratio must be positive, got {hidden_ratio}')

        layers = list(self.arch['layers'])
        embed_dims = list(self.arch['embed_dims'])
        hidden_sizes = [int(round(h * hidden_ratio)) for h in self.arch['hidden_sizes']]
        mixer_cfg = dict(impl=mixer_impl, rnn_type=rnn_type, bidirectional=bidirectional,
                         union=union, with_fc=with_fc)
        self.stem = nn.Conv2d(in_channels, embed_dims[0], kernel_size=patch_sizes[0],
                              stride=patch_sizes[0])
        dpr = torch.linspace(0, drop_path_rate, sum(layers)).tolist()
        self.stages = nn.ModuleList()
        block_index = 0
        for i, depth in enumerate(layers):
            in_dim = embed_dims[max(i - 1, 0)]
            downsample = (Downsample(in_dim, embed_dims[i], patch_sizes[i]) if i > 0
                          else nn.Identity())
            blocks = [
                Sequencer2DBlock(embed_dims[i], hidden_sizes[i], self.arch['mlp_ratios'][i],
                                 drop_path=dpr[block_index + j], mixer_cfg=mixer_cfg)
                for j in range(depth)
            ]
            block_index += depth
            self.stages.append(SequencerStage(downsample, blocks))
        self.embed_dims = embed_dims
        self._finish_init(embed_dims)
