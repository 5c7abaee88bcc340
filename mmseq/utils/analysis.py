"""What the analysis tools (``tools/analysis/{erf,resolution,hidden_states}.py``) share:
building a classifier from its config, re-targeting its test pipeline to another resolution,
effective receptive fields (paper App. D) and the BiLSTM2D hidden states (paper Fig. 4).

Plotting lives in the tools; everything here returns tensors, arrays or plain dicts.
"""
import copy
import math
import os
import os.path as osp
from fnmatch import fnmatchcase
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.utils import import_modules_from_strings

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')

# ---------------------------------------------------------------------------------------------
# Models and pipelines
# ---------------------------------------------------------------------------------------------


def load_config(config: Union[str, Config], cfg_options: Optional[dict] = None) -> Config:
    """Read a config and merge overrides (``init_model`` attaches the top-level
    ``data_preprocessor`` to the model, as mmengine's Runner does)."""
    cfg = Config.fromfile(config) if isinstance(config, str) else copy.deepcopy(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    if 'model' not in cfg:
        raise KeyError('the config has no "model" entry')
    return cfg


def build_model(cfg: Config, checkpoint: Optional[str] = None,
                device: Union[str, torch.device] = 'cpu') -> nn.Module:
    """The config's model in eval mode, with ``checkpoint`` (weights only) or random init."""
    from mmengine.logging import MMLogger
    from mmseq.apis import init_model
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


def default_resolutions(cfg: Config, low: int = 112, high: int = 448) -> List[int]:
    """Fig. 3a/b: Sequencer is stepped by 28 px (multiples of its stride 14 need no padding),
    other models by 32."""
    step = 28 if is_sequencer(cfg) else 32
    start = int(math.ceil(low / step) * step)
    return list(range(start, high + 1, step))


def get_test_pipeline(cfg: Config) -> list:
    if cfg.get('test_dataloader') and cfg.test_dataloader.get('dataset'):
        return copy.deepcopy(list(cfg.test_dataloader.dataset.pipeline))
    if cfg.get('test_pipeline'):
        return copy.deepcopy(list(cfg.test_pipeline))
    raise KeyError('the config defines neither test_dataloader.dataset.pipeline nor test_pipeline')


def _size_of(value) -> int:
    """One side of a scale/crop_size entry (int, or a square (w, h) pair)."""
    if isinstance(value, int):
        return value
    if isinstance(value, (list, tuple)) and len(value) == 2 and value[0] == value[1]:
        return int(value[0])
    raise ValueError(f'expected a square size, got {value!r}')


def _find_resize_crop(pipeline: Sequence[dict]) -> Tuple[Optional[int], Optional[int]]:
    crop = resize = None
    for i, t in enumerate(pipeline):
        if t['type'] == 'CenterCrop':
            crop = i
        elif t['type'] in ('ResizeEdge', 'Resize') and crop is None:
            resize = i
    return resize, crop


def train_resolution(pipeline: Sequence[dict]) -> int:
    """The size the test pipeline feeds the model (its centre crop, or a square resize)."""
    resize, crop = _find_resize_crop(pipeline)
    if crop is not None:
        return _size_of(pipeline[crop]['crop_size'])
    if resize is not None and pipeline[resize]['type'] == 'Resize':
        return _size_of(pipeline[resize]['scale'])
    raise ValueError('cannot tell the input resolution of this test pipeline (it needs a '
                     f'CenterCrop or a square Resize): {[t["type"] for t in pipeline]}')


def pipeline_at_resolution(pipeline: Sequence[dict], resolution: int) -> list:
    """Copy of a classification test pipeline that outputs ``resolution`` x ``resolution``
    images, keeping the config's crop ratio (e.g. ResizeEdge 256 -> CenterCrop 224 becomes
    ResizeEdge floor(r / 0.875) -> CenterCrop r, as timm's ``crop_pct`` does)."""
    pipeline = copy.deepcopy(list(pipeline))
    resize, crop = _find_resize_crop(pipeline)
    if crop is not None:
        old_crop = _size_of(pipeline[crop]['crop_size'])
        pipeline[crop]['crop_size'] = resolution
        if resize is not None:
            t = pipeline[resize]
            old_scale = _size_of(t['scale'])
            # round() first: 252 * 256 / 224 is 288.00000000000006 in floating point.
            new_scale = int(math.floor(round(resolution * old_scale / old_crop, 6)))
            t['scale'] = new_scale if isinstance(t['scale'], int) else (new_scale, new_scale)
        return pipeline
    if resize is not None and pipeline[resize]['type'] == 'Resize':
        pipeline[resize]['scale'] = (resolution, resolution)
        return pipeline
    raise ValueError('cannot re-target this test pipeline to another resolution (expected '
                     f'[Resize|ResizeEdge] + CenterCrop): {[t["type"] for t in pipeline]}')


def list_images(folder: str, limit: Optional[int] = None) -> List[str]:
    """Image files under ``folder`` (recursively), sorted, at most ``limit``."""
    if not osp.isdir(folder):
        raise FileNotFoundError(f'no such image folder: {folder}')
    paths = sorted(
        osp.join(root, f) for root, _, files in os.walk(folder) for f in files
        if f.lower().endswith(IMAGE_EXTS))
    if not paths:
        raise FileNotFoundError(f'no images ({", ".join(IMAGE_EXTS)}) under {folder}')
    return paths[:limit] if limit else paths


def load_inputs(model: nn.Module, paths: Sequence[str], pipeline: Sequence[dict]
                ) -> torch.Tensor:
    """Images -> the config's pipeline -> the model's data preprocessor -> (B, 3, H, W)."""
    from mmengine.dataset import Compose, pseudo_collate
    from mmengine.registry import init_default_scope
    init_default_scope(model.cfg.get('default_scope', 'mmpretrain'))
    compose = Compose([t for t in pipeline if 'LoadAnnotations' not in t['type']])
    data = pseudo_collate([compose(dict(img_path=p)) for p in paths])
    with torch.no_grad():
        return model.data_preprocessor(data, False)['inputs']


# ---------------------------------------------------------------------------------------------
# Effective receptive fields (App. D, eqs. 8-9)
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# BiLSTM2D hidden states (Fig. 4)
# ---------------------------------------------------------------------------------------------


def as_reference_mixer(mixer: nn.Module) -> nn.Module:
    """The same BiLSTM2D on the reference (nn.LSTM) implementation, whose sub-modules
    ``rnn_v``/``rnn_h``/``fc`` really run and can be hooked; same state dict."""
    from mmseq.models.layers.bilstm2d import RNN_TYPES, BiLSTM2D
    if type(mixer) is BiLSTM2D:
        return mixer
    if not isinstance(mixer, BiLSTM2D):
        raise TypeError(f'expected a BiLSTM2D token mixer, got {type(mixer).__name__}')
    rnn = mixer.rnn_v if mixer.rnn_v is not None else mixer.rnn_h
    rnn_type = next(k for k, cls in RNN_TYPES.items() if type(rnn) is cls)
    ref = BiLSTM2D(mixer.dim, mixer.hidden_size, rnn_type=rnn_type,
                   bidirectional=rnn.bidirectional, union=mixer.union,
                   with_fc=mixer.fc is not None)
    ref.load_state_dict(mixer.state_dict(), strict=True)
    p = next(mixer.parameters())
    return ref.to(device=p.device, dtype=p.dtype).train(mixer.training)


def sequencer_block(model: nn.Module, stage: int, block: int) -> Tuple[str, nn.Module]:
    backbone = getattr(model, 'backbone', model)
    stages = getattr(backbone, 'stages', None)
    if stages is None or not hasattr(stages[0], 'blocks'):
        raise TypeError(f'{type(backbone).__name__} is not a Sequencer backbone '
                        '(no stages[i].blocks)')
    if not -len(stages) <= stage < len(stages):
        raise IndexError(f'stage {stage} out of range for {len(stages)} stages')
    stage = stage % len(stages)
    blocks = stages[stage].blocks
    if not -len(blocks) <= block < len(blocks):
        raise IndexError(f'block {block} out of range: stage {stage} has {len(blocks)} blocks')
    block = block % len(blocks)
    prefix = 'backbone.' if hasattr(model, 'backbone') else ''
    return f'{prefix}stages.{stage}.blocks.{block}', blocks[block]


def mixer_hidden_states(model: nn.Module, inputs: torch.Tensor, stage: int = 0,
                        block: int = -1) -> Tuple[str, Dict[str, torch.Tensor]]:
    """Run ``inputs`` through the backbone and return the chosen block's vertical RNN,
    horizontal RNN and channel-fusion outputs as (B, H, W, channels) tensors (keys 'vertical',
    'horizontal', 'fusion'; absent parts of ablated mixers are left out)."""
    name, blk = sequencer_block(model, stage, block)
    original = blk.token_mixer
    mixer = as_reference_mixer(original)
    states: Dict[str, torch.Tensor] = {}
    shape: List[int] = []

    def pre_hook(module, args):
        shape[:] = args[0].shape[:3]

    def rnn_hook(key):
        def hook(module, args, output):
            B, H, W = shape
            seq = output[0]
            if key == 'vertical':  # columns were the sequences: (B*W, H, 2D)
                states[key] = seq.reshape(B, W, H, -1).transpose(1, 2)
            else:  # rows were the sequences: (B*H, W, 2D)
                states[key] = seq.reshape(B, H, W, -1)
        return hook

    def fc_hook(module, args, output):
        states['fusion'] = output

    handles = [mixer.register_forward_pre_hook(pre_hook)]
    if mixer.rnn_v is not None:
        handles.append(mixer.rnn_v.register_forward_hook(rnn_hook('vertical')))
    if mixer.rnn_h is not None:
        handles.append(mixer.rnn_h.register_forward_hook(rnn_hook('horizontal')))
    if mixer.fc is not None:
        handles.append(mixer.fc.register_forward_hook(fc_hook))
    blk.token_mixer = mixer
    try:
        with torch.no_grad():
            getattr(model, 'backbone', model)(inputs)
    finally:
        blk.token_mixer = original
        for h in handles:
            h.remove()
    return name, {k: v.detach() for k, v in states.items()}
