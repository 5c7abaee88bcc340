"""Sequencer2D (Tatsunami & Taki, NeurIPS 2022): a hierarchical backbone whose token mixer is
the BiLSTM2D layer. Architecture from the paper's Table 4; numerics equal timm's Sequencer2d."""
from functools import partial
from typing import Dict, Optional, Sequence, Union

from mmseq.registry import MODELS
from ..layers import build_token_mixer
from .base import SequencerBackboneBase, resolve_arch


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
        if hidden_ratio <= 0:
            raise ValueError(f'hidden_ratio must be positive, got {hidden_ratio}')
        self.arch = resolve_arch(arch, self.arch_zoo)
        arch = dict(self.arch, hidden_sizes=[int(round(h * hidden_ratio))
                                             for h in self.arch['hidden_sizes']])
        mixer = partial(build_token_mixer, mixer_impl, rnn_type=rnn_type,
                        bidirectional=bidirectional, union=union, with_fc=with_fc)
        super().__init__(arch, mixer, in_channels, drop_path_rate, out_indices, frozen_stages,
                         norm_eval, with_cp, init_cfg)
