"""What Sequencer2D and VanillaSequencer share: the block, the stage layout, arch parsing,
input checks and padding, out_indices / frozen_stages / norm_eval handling, and the
timm-compatible weight init. The backbones differ only in their token mixer and stem."""
import math
from typing import Callable, Dict, Iterable, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmengine.model import BaseModule

from ..layers import DropPath, Mlp
from ..utils.pyramid import check_pyramid_consumers, owner_of, stage_strides, watch_owner

ARCH_KEYS = ('layers', 'patch_sizes', 'embed_dims', 'hidden_sizes', 'mlp_ratios')


def resolve_arch(arch: Union[str, Dict], arch_zoo: Dict[str, Dict]) -> Dict:
    """Return the arch dict for a zoo name or check a user-given dict."""
    if isinstance(arch, str):
        key = arch.lower()
        if key not in arch_zoo:
            raise ValueError(f'Unknown arch {arch!r}; valid names are {sorted(arch_zoo)} '
                             f'or a dict with keys {list(ARCH_KEYS)}')
        return dict(arch_zoo[key])
    if not isinstance(arch, dict):
        raise TypeError(f'arch must be a str or a dict, got {type(arch).__name__}')
    missing = [k for k in ARCH_KEYS if k not in arch]
    if missing:
        raise ValueError(f'Custom arch dict is missing keys {missing}; it needs {list(ARCH_KEYS)}')
    lengths = {k: len(arch[k]) for k in ARCH_KEYS}
    if len(set(lengths.values())) != 1:
        raise ValueError(f'Custom arch lists must have one entry per stage; got lengths {lengths}')
    return dict(arch)


def normalize_out_indices(out_indices: Union[int, Sequence[int]], num_stages: int) -> Tuple[int, ...]:
    if isinstance(out_indices, int):
        out_indices = [out_indices]
    if not isinstance(out_indices, Iterable):
        raise TypeError(f'out_indices must be an int or a sequence of ints, got {out_indices!r}')
    result = []
    for index in out_indices:
        if not isinstance(index, int):
            raise TypeError(f'out_indices must hold ints, got {index!r}')
        norm_index = index + num_stages if index < 0 else index
        if not 0 <= norm_index < num_stages:
            raise ValueError(f'out_indices entry {index} is out of range for {num_stages} stages '
                             f'(valid: {-num_stages}..{num_stages - 1})')
        result.append(norm_index)
    return tuple(sorted(set(result)))


def check_image_batch(x: torch.Tensor, in_channels: int, min_size: int) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f'Expected a torch.Tensor of shape (B, {in_channels}, H, W), got {type(x).__name__}')
    if x.dim() != 4:
        raise ValueError(f'Expected a 4-D input (B, {in_channels}, H, W), got shape {tuple(x.shape)}')
    if not x.is_floating_point():
        raise TypeError(f'Expected a floating-point input, got dtype {x.dtype}; '
                        'convert images to float (the data preprocessor normally does this)')
    if x.shape[1] != in_channels:
        raise ValueError(f'Expected {in_channels} input channels, got {x.shape[1]} '
                         f'(input shape {tuple(x.shape)})')
    if x.shape[2] < min_size or x.shape[3] < min_size:
        raise ValueError(f'Input {x.shape[2]}x{x.shape[3]} is smaller than one {min_size}x{min_size} '
                         'stem patch')


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad an NCHW batch on the right/bottom so H and W are multiples of ``multiple``."""
    pad_h = -x.shape[2] % multiple
    pad_w = -x.shape[3] % multiple
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h))
    return x


def lecun_normal_(tensor: torch.Tensor) -> None:
    """LeCun normal init (truncated normal, fan-in), as used for the stem and downsample convs."""
    fan_in = tensor[0].numel()
    # 0.8796... is the std of a unit normal truncated to [-2, 2].
    std = math.sqrt(1.0 / fan_in) / .87962566103423978
    nn.init.trunc_normal_(tensor, std=std, a=-2 * std, b=2 * std)


def init_sequencer_weights(module: nn.Module) -> None:
    """The initialisation of the reference implementation (timm's Sequencer2d)."""
    for name, m in module.named_modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                if '.mlp.' in f'.{name}.':
                    nn.init.normal_(m.bias, std=1e-6)
                else:
                    nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv2d):
            lecun_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.RNNBase,)):
            bound = 1.0 / math.sqrt(m.hidden_size)
            for p in m.parameters():
                nn.init.uniform_(p, -bound, bound)


def _capturing_graph() -> bool:
    return (torch.jit.is_tracing() or torch.compiler.is_compiling()
            or torch.onnx.is_in_onnx_export())


class Downsample(nn.Module):
    """Patch merging between stages on channels-last maps: a k x k, stride-k convolution
    (k = 1 is Table 4's "point-wise linear", run as a matmul without layout changes)."""

    def __init__(self, in_dim: int, out_dim: int, patch_size: int):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_dim, out_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.patch_size == 1:
            return F.linear(x, self.proj.weight.flatten(1), self.proj.bias)
        x = self.proj(x.permute(0, 3, 1, 2))
        # Contiguous channels-last tokens: otherwise every LayerNorm of the stage copies them.
        return x.permute(0, 2, 3, 1).contiguous()


class SequencerBlock(nn.Module):
    """x + DropPath(mixer(LN(x))), then x + DropPath(MLP(LN(x))) on (B, H, W, C) tokens.

    Args:
        dim: channels C.
        token_mixer: a module mapping (B, H, W, C) to (B, H, W, C): BiLSTM2D for Sequencer2D,
            one BiLSTM over the raster-scanned tokens for the Vanilla Sequencer.
        mlp_ratio: hidden width of the channel MLP, in multiples of C.
        drop_path: stochastic depth of both branches.
        recompute_act: let the MLP recompute its GELU in the backward (see :class:`Mlp`).
    """

    def __init__(self, dim: int, token_mixer: nn.Module, mlp_ratio: float,
                 drop_path: float = 0., recompute_act: bool = True):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.token_mixer = token_mixer
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(mlp_ratio * dim), recompute_act=recompute_act)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.token_mixer(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class SequencerStage(nn.Module):
    """Optional downsample followed by a run of blocks (two attributes, so the backbone can
    checkpoint block by block)."""

    def __init__(self, downsample: nn.Module, blocks: Sequence[nn.Module]):
        super().__init__()
        self.downsample = downsample
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))


class SequencerBackboneBase(BaseModule):
    """Stem -> stages of :class:`SequencerBlock` on channels-last tokens -> per-output
    LayerNorm -> tuple of NCHW maps, all built here from the arch.

    Args:
        arch: the resolved arch dict (``layers``, ``patch_sizes``, ``embed_dims``,
            ``hidden_sizes``, ``mlp_ratios``; see :func:`resolve_arch`).
        token_mixer: ``token_mixer(dim, hidden_size)`` builds one block's token mixer.
        Others: as documented by :class:`~mmseq.models.Sequencer2D`.
    """

    def __init__(self, arch: Dict, token_mixer: Callable[[int, int], nn.Module],
                 in_channels: int, drop_path_rate: float, out_indices, frozen_stages: int,
                 norm_eval: bool, with_cp: bool, init_cfg):
        super().__init__(init_cfg=init_cfg)
        if not 0 <= drop_path_rate < 1:
            raise ValueError(f'drop_path_rate must be in [0, 1), got {drop_path_rate}')
        layers, patch_sizes, dims = arch['layers'], arch['patch_sizes'], arch['embed_dims']
        self.num_stages = len(layers)
        self.out_indices = normalize_out_indices(out_indices, self.num_stages)
        if not isinstance(frozen_stages, int) or not -1 <= frozen_stages <= self.num_stages:
            raise ValueError(f'frozen_stages must be an int in [-1, {self.num_stages}] '
                             f'(-1: none, 0: stem, k: stem and the first k stages), '
                             f'got {frozen_stages!r}')
        self.in_channels = in_channels
        self.stem_patch = patch_sizes[0]
        self.total_stride = math.prod(patch_sizes)
        self.stage_strides = stage_strides(patch_sizes)
        self.embed_dims = list(dims)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp

        self.stem = nn.Conv2d(in_channels, dims[0], kernel_size=patch_sizes[0],
                              stride=patch_sizes[0])
        drop_rates = iter(torch.linspace(0, drop_path_rate, sum(layers)).tolist())
        self.stages = nn.ModuleList()
        for i, depth in enumerate(layers):
            downsample = Downsample(dims[i - 1], dims[i], patch_sizes[i]) if i > 0 \
                else nn.Identity()
            blocks = [SequencerBlock(dims[i], token_mixer(dims[i], arch['hidden_sizes'][i]),
                                     arch['mlp_ratios'][i], next(drop_rates),
                                     # checkpointing keeps no activations at all
                                     recompute_act=not with_cp)
                      for _ in range(depth)]
            self.stages.append(SequencerStage(downsample, blocks))
        for i in self.out_indices:
            self.add_module(f'norm{i}', nn.LayerNorm(dims[i], eps=1e-6))
        self._freeze_stages()
        self._pyramid_checked = False

    def init_weights(self) -> None:
        if self.init_cfg is None:
            init_sequencer_weights(self)
            self._is_init = True
        else:
            super().init_weights()

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """NCHW image -> contiguous channels-last tokens of the first stage (a channels_last
        input makes the convolution write that layout directly)."""
        x = self.stem(x.contiguous(memory_format=torch.channels_last))
        return x.permute(0, 2, 3, 1).contiguous()

    def check_consumers(self) -> None:
        """Raise ``PyramidMismatchError`` if the segmentor or detector that holds this
        backbone has a neck or head set up for other strides or channels than its outputs'
        (:mod:`mmseq.models.utils.pyramid`). Runs on the first forward."""
        owner = owner_of(self)
        if owner is not None:
            check_pyramid_consumers(owner, [self.stage_strides[i] for i in self.out_indices],
                                    [self.embed_dims[i] for i in self.out_indices],
                                    self.total_stride)
        self._pyramid_checked = True

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        if not self._pyramid_checked and not _capturing_graph():
            self.check_consumers()
        check_image_batch(x, self.in_channels, self.stem_patch)
        x = self.embed(pad_to_multiple(x, self.total_stride))
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage.downsample(x)
            for block in stage.blocks:
                if self.with_cp and x.requires_grad:
                    x = cp.checkpoint(block, x, use_reentrant=False)
                else:
                    x = block(x)
            if i in self.out_indices:
                # Contiguous NCHW, the layout mmcv's ops assume (RoIAlign reads a
                # channels-last view as NCHW memory and returns wrong features).
                outs.append(getattr(self, f'norm{i}')(x).permute(0, 3, 1, 2).contiguous())
        return tuple(outs)

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        modules = [self.stem] + [self.stages[i] for i in range(self.frozen_stages)]
        modules += [getattr(self, f'norm{i}') for i in range(self.frozen_stages)
                    if i in self.out_indices]
        for module in modules:
            module.eval()
            for p in module.parameters():
                p.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            # LayerNorm has no running statistics; eval mode is kept for the convention's sake.
            for m in self.modules():
                if isinstance(m, (nn.LayerNorm, nn.modules.batchnorm._BatchNorm)):
                    m.eval()
        return self


watch_owner(SequencerBackboneBase)
