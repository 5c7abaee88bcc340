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

    A paper implementation of `Sequencer: Deep LSTM for Image Classification
    <https://arxiv.org/abs/2205.01972>`_. Stage strides are 7, 14, 14, 14 (the last two stages
    keep the resolution and change channels with a point-wise linear). Inputs of any size are
    zero-padded on the right and bottom to a multiple of the total stride (14), never cropped.

    Args:
        arch (str | dict): 's'/'small', 'm'/'medium', 'l'/'large' (Table 4), or a dict with
            keys ``layers``, ``patch_sizes``, ``embed_dims``, ``hidden_sizes``,
            ``mlp_ratios`` (one entry per stage). Defaults to 's'.
        in_channels (int): Image channels. Defaults to 3.
        hidden_ratio (float): Multiplies every stage's hidden size D (Table 2d uses 2).
            Defaults to 1.
        rnn_type (str): 'lstm' (paper), 'gru' or 'rnn' (Table 2e). Defaults to 'lstm'.
        bidirectional (bool): BiLSTMs (paper) or forward-only ones (Table 2b).
            Defaults to True.
        union (str): 'cat' (paper), 'add' (Table 12a), 'vertical' or 'horizontal' only
            (Table 2a). Defaults to 'cat'.
        with_fc (bool): The channel-fusion linear layer (Table 2a). Defaults to True.
        mixer_impl (str): BiLSTM2D implementation: 'auto', 'reference' (``nn.LSTM``) or
            'fused'. Defaults to 'auto'.
        drop_path_rate (float): Stochastic depth, ramped linearly from 0 over all blocks.
            Defaults to 0.
        out_indices (int | Sequence[int]): Stages whose (LayerNorm-ed) outputs are returned,
            as NCHW maps. Defaults to -1, the last stage.
        frozen_stages (int): -1 none, 0 the stem, k the stem and the first k stages.
            Defaults to -1.
        norm_eval (bool): Keep norm layers in eval mode during training. Defaults to False.
        with_cp (bool): Activation checkpointing per block. Defaults to False.
        init_cfg (dict | list[dict], optional): mmengine init config, e.g.
            ``dict(type='Pretrained', checkpoint=..., prefix='backbone.')``; None is
            timm's initialisation. Defaults to None.
        pretrained (str, optional): Refused with the fix: mmseg's segmentors hand the
            config's model-level ``pretrained`` (a ResNet's, in mmseg's configs) to the
            backbone. Set ``model.pretrained=None`` and load weights with ``init_cfg``.

    Example:
        >>> import torch
        >>> from mmseq.models import Sequencer2D
        >>> model = Sequencer2D(arch='s', out_indices=(0, 1, 2, 3)).eval()
        >>> with torch.no_grad():
        ...     outs = model(torch.rand(1, 3, 224, 224))
        >>> for out in outs:
        ...     print(out.shape)
        torch.Size([1, 192, 32, 32])
        torch.Size([1, 384, 16, 16])
        torch.Size([1, 384, 16, 16])
        torch.Size([1, 384, 16, 16])
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
                 init_cfg: Optional[Union[Dict, list]] = None,
                 pretrained: Optional[str] = None):
        if pretrained is not None:
            raise TypeError(
                f'Sequencer2D got pretrained={pretrained!r}, which mmseg passes on from the '
                "config's model.pretrained: set model.pretrained=None and load weights with "
                "backbone.init_cfg=dict(type='Pretrained', checkpoint='timm://sequencer2d_s.in1k',"
                " prefix='backbone.')")
        if hidden_ratio <= 0:
            raise ValueError(f'hidden_ratio must be positive, got {hidden_ratio}')
        self.arch = resolve_arch(arch, self.arch_zoo)
        arch = dict(self.arch, hidden_sizes=[int(round(h * hidden_ratio))
                                             for h in self.arch['hidden_sizes']])
        mixer = partial(build_token_mixer, mixer_impl, rnn_type=rnn_type,
                        bidirectional=bidirectional, union=union, with_fc=with_fc)
        super().__init__(arch, mixer, in_channels, drop_path_rate, out_indices, frozen_stages,
                         norm_eval, with_cp, init_cfg)
