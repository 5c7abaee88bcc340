"""Effective receptive fields (paper App. D, eqs. 8-9): gradients of a block's centre output
w.r.t. the input images, and the numbers that summarise them."""
import math
from fnmatch import fnmatchcase
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

# (backbone class in the MRO, module-name pattern, output layout). Patterns are matched
# segment by segment ('*' never crosses a dot). Layouts: 'nchw', 'nhwc' (channels-last maps),
# 'tokens' ((B, N, C) sequences, extra tokens first, reshaped to the patch grid).
ERF_RULES = [
    ('SequencerBackboneBase', 'backbone.stages.*.blocks.*', 'nhwc'),
    ('ConvNeXt', 'backbone.stages.*.*', 'nchw'),
    ('ResNet', 'backbone.layer*.*', 'nchw'),
    ('SwinTransformer', 'backbone.stages.*.blocks.*', 'tokens'),
    ('VisionTransformer', 'backbone.layers.*', 'tokens'),
]
LAYOUTS = ('nchw', 'nhwc', 'tokens')


def match_pattern(name: str, pattern: str) -> bool:
    parts, pats = name.split('.'), pattern.split('.')
    return len(parts) == len(pats) and all(fnmatchcase(a, b) for a, b in zip(parts, pats))


def erf_layers(model: nn.Module, pattern: Optional[str] = None,
               layout: Optional[str] = None) -> List[Tuple[str, str]]:
    """The (module name, layout) pairs whose outputs get an ERF: the blocks of a known
    backbone by default, or the modules matching ``pattern`` (with ``layout``)."""
    if pattern is None:
        backbone = getattr(model, 'backbone', model)
        mro = [c.__name__ for c in type(backbone).__mro__]
        rule = next((r for r in ERF_RULES if r[0] in mro), None)
        if rule is None:
            raise ValueError(
                f'no default ERF layers for backbone {type(backbone).__name__}; pass a module '
                'name pattern (e.g. "backbone.stages.*.*") and its output layout '
                f'({"/".join(LAYOUTS)})')
        pattern, layout = rule[1], layout or rule[2]
        if not hasattr(model, 'backbone'):
            pattern = pattern[len('backbone.'):]
    if layout not in LAYOUTS:
        raise ValueError(f'layout must be one of {LAYOUTS}, got {layout!r}')
    names = [n for n, _ in model.named_modules() if n and match_pattern(n, pattern)]
    if not names:
        raise ValueError(f'no module of {type(model).__name__} matches {pattern!r}')
    return [(n, layout) for n in names]


def _int_pair(value) -> Optional[Tuple[int, int]]:
    if isinstance(value, (tuple, list, torch.Size)) and len(value) == 2 and \
            all(isinstance(v, int) for v in value):
        return int(value[0]), int(value[1])
    return None


class OutputTap:
    """Forward hooks keeping the outputs of the given modules as (B, C, h, w) views (graph
    kept), so their centre can be differentiated w.r.t. the input."""

    def __init__(self, model: nn.Module, layers: Sequence[Tuple[str, str]]):
        modules = dict(model.named_modules())
        self.outputs: Dict[str, torch.Tensor] = {}
        self._grid: Optional[Tuple[int, int]] = None
        self._handles = []
        embed = modules.get('backbone.patch_embed', modules.get('patch_embed'))
        if embed is not None:
            # ViT-style patch embeddings return (tokens, (h, w)): the grid of later layers.
            self._handles.append(embed.register_forward_hook(self._grid_hook))
        for name, layout in layers:
            hook = self._make_hook(name, layout)
            self._handles.append(modules[name].register_forward_hook(hook))

    def _grid_hook(self, module, args, output):
        if isinstance(output, (tuple, list)) and len(output) == 2:
            self._grid = _int_pair(output[1])

    def _make_hook(self, name: str, layout: str) -> Callable:
        def hook(module, args, output):
            x = output[0] if isinstance(output, (tuple, list)) else output
            if layout == 'nhwc':
                x = x.permute(0, 3, 1, 2)
            elif layout == 'tokens':
                grid = next((g for g in map(_int_pair, args[1:]) if g), None) or self._grid
                n = x.shape[1]
                if grid is None:
                    side = math.isqrt(n)
                    grid = (side, side)
                if grid[0] * grid[1] > n:
                    raise ValueError(f'{name}: {n} tokens cannot hold a {grid} grid')
                # Extra (class / distillation) tokens come first in mmpretrain's ViTs.
                x = x[:, n - grid[0] * grid[1]:].transpose(1, 2).reshape(
                    x.shape[0], x.shape[2], *grid)
            elif x.dim() != 4:
                raise ValueError(f'{name}: expected a 4-D output for layout "nchw", '
                                 f'got shape {tuple(x.shape)}')
            self.outputs[name] = x
        return hook

    def remove(self):
        for h in self._handles:
            h.remove()


def erf_contributions(model: nn.Module, batches: Iterable[torch.Tensor],
                      layers: Sequence[Tuple[str, str]],
                      progress: Optional[Callable[[], None]] = None
                      ) -> Dict[str, dict]:
    """Eq. 8 summed over images and channels: for every layer, sum_{i,c} ReLU(d(sum of the
    centre output of the layer over batch and channels)/dI). Returns per layer the (H, W)
    float64 array ``contribution`` and the layer's output size ``out_hw``.

    ``progress`` is called once per (batch, layer) backward pass.
    """
    forward = getattr(model, 'backbone', model)
    params = [p for p in model.parameters()]
    saved = [p.requires_grad for p in params]
    for p in params:  # only input gradients are wanted
        p.requires_grad_(False)
    # cuDNN's RNN backward refuses modules in eval mode; for single-layer RNNs (no dropout)
    # train mode computes the same function, so the LSTMs are switched for the analysis.
    rnns = [(m, m.training) for m in model.modules() if isinstance(m, nn.RNNBase)]
    for m, _ in rnns:
        m.train(m.num_layers == 1 or m.dropout == 0)
    tap = OutputTap(model, layers)
    results: Dict[str, dict] = {}
    try:
        for inputs in batches:
            inputs = inputs.detach().clone().requires_grad_(True)
            tap.outputs.clear()
            forward(inputs)
            for k, (name, _) in enumerate(layers):
                out = tap.outputs.get(name)
                if out is None:
                    raise RuntimeError(f'{name} produced no output in the forward pass')
                h, w = out.shape[-2:]
                centre = out[:, :, h // 2, w // 2].sum()
                grad, = torch.autograd.grad(centre, inputs, retain_graph=k < len(layers) - 1)
                contrib = grad.clamp(min=0).sum(dim=(0, 1)).double().cpu().numpy()
                entry = results.setdefault(
                    name, dict(contribution=np.zeros_like(contrib), out_hw=(int(h), int(w))))
                entry['contribution'] += contrib
                if progress is not None:
                    progress()
    finally:
        tap.remove()
        for p, flag in zip(params, saved):
            p.requires_grad_(flag)
        for m, flag in rnns:
            m.train(flag)
    return results


def erf_score(contribution: np.ndarray) -> np.ndarray:
    """Eq. 9: S = log10(sum_{i,c} P + 1)."""
    return np.log10(contribution + 1.0)


def rescale_scores(scores: Dict[str, Dict[str, np.ndarray]], mode: str = 'global'
                   ) -> Dict[str, Dict[str, np.ndarray]]:
    """Rescale S to [0, 1]: over all compared models and blocks ('global', the paper's
    cross-model comparison), per model ('model') or per map ('block')."""
    if mode not in ('global', 'model', 'block'):
        raise ValueError(f"mode must be 'global', 'model' or 'block', got {mode!r}")

    def scaled(x, lo, hi):
        return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)

    out = {}
    if mode == 'global':
        lo = min(float(s.min()) for m in scores.values() for s in m.values())
        hi = max(float(s.max()) for m in scores.values() for s in m.values())
    for model_name, maps in scores.items():
        if mode == 'model':
            lo = min(float(s.min()) for s in maps.values())
            hi = max(float(s.max()) for s in maps.values())
        out[model_name] = {}
        for layer, s in maps.items():
            if mode == 'block':
                lo, hi = float(s.min()), float(s.max())
            out[model_name][layer] = scaled(s, lo, hi)
    return out


def centre_cross_mask(in_hw: Tuple[int, int], out_hw: Tuple[int, int]) -> np.ndarray:
    """Input pixels lying in the centre row or centre column of a layer's output map (the
    pixel band of one output cell, stride = input size / output size, rounded up so that
    models padding their input are covered)."""
    H, W = in_hw
    h, w = out_hw
    sy, sx = math.ceil(H / h), math.ceil(W / w)
    cy, cx = h // 2, w // 2
    mask = np.zeros((H, W), dtype=bool)
    mask[cy * sy:(cy + 1) * sy, :] = True
    mask[:, cx * sx:(cx + 1) * sx] = True
    return mask


def area_for_fraction(contribution: np.ndarray, fraction: float) -> float:
    """Smallest share of the pixels (largest contributions first) holding ``fraction`` of
    the total contribution; a shape-agnostic size of the ERF."""
    values = np.sort(contribution.ravel())[::-1]
    total = values.sum()
    if total <= 0:
        return 0.0
    count = int(np.searchsorted(np.cumsum(values), fraction * total) + 1)
    return min(count, values.size) / values.size


def erf_summary(contribution: np.ndarray, out_hw: Tuple[int, int]) -> dict:
    """Numbers behind one ERF map: score range, mean score on/off the centre cross and the
    area holding 20/30/50/99% of the contribution."""
    score = erf_score(contribution)
    cross = centre_cross_mask(score.shape, out_hw)
    on, off = float(score[cross].mean()), float(score[~cross].mean()) if (~cross).any() else 0.
    return dict(
        out_hw=list(out_hw), score_max=float(score.max()), score_mean=float(score.mean()),
        cross_mean=on, off_cross_mean=off,
        # None when nothing lies off the cross (a single Sequencer block): strict JSON.
        cross_ratio=on / off if off > 0 else None,
        area_ratio={str(t): area_for_fraction(contribution, t) for t in (0.2, 0.3, 0.5, 0.99)})
