"""Map public Sequencer2D weights (timm's layout or the official release's) to mmseq's
module names, so the converted state dict loads into ``Sequencer2D`` with ``strict=True``."""
import re
from collections import OrderedDict
from typing import Dict, List, Tuple

import torch

# timm name fragment -> mmseq name fragment
_RENAMES = (
    ('.rnn_tokens.', '.token_mixer.'),
    ('.mlp_channels.', '.mlp.'),
    ('.downsample.down.', '.downsample.proj.'),
)


def _official_to_timm(key: str) -> str:
    """The official release stores stage i's blocks as ``blocks.{i}.{j}`` and the downsample
    into stage i+1 as ``blocks.{i}.{depth_i}.down``; its classifier is ``head.*``."""
    key = re.sub(r'^blocks\.(\d+)\.(\d+)\.down\.',
                 lambda m: f'stages.{int(m.group(1)) + 1}.downsample.down.', key)
    key = re.sub(r'^blocks\.(\d+)\.(\d+)\.', r'stages.\1.blocks.\2.', key)
    if key.startswith('head.') and not key.startswith('head.fc.'):
        key = 'head.fc.' + key[len('head.'):]
    return key


def _unwrap(checkpoint: Dict) -> Dict[str, torch.Tensor]:
    for wrapper in ('model', 'state_dict', 'model_ema'):
        if wrapper in checkpoint and isinstance(checkpoint[wrapper], dict):
            return checkpoint[wrapper]
    return checkpoint


def _stage_count(state_dict: Dict[str, torch.Tensor]) -> int:
    stages = {int(m.group(1)) for k in state_dict for m in [re.match(r'stages\.(\d+)\.', k)] if m}
    return max(stages) + 1 if stages else 0


def convert_sequencer_state_dict(checkpoint: Dict) -> Tuple[Dict[str, torch.Tensor], Dict]:
    """Return ``(state_dict, arch)``: an mmpretrain-classifier state dict (``backbone.*`` and
    ``head.fc.*``) and the arch dict inferred from the tensors.

    Raises:
        ValueError: the checkpoint is not a Sequencer2D one (the message names the missing and
            unexpected keys).
    """
    src = _unwrap(checkpoint)
    timm_sd = OrderedDict((_official_to_timm(k), v) for k, v in src.items())
    num_stages = _stage_count(timm_sd)
    if 'stem.proj.weight' not in timm_sd or num_stages == 0:
        sample = sorted(src)[:8]
        raise ValueError('Not a Sequencer2D checkpoint: expected keys such as "stem.proj.weight" '
                         'and "stages.0.blocks.0.rnn_tokens.rnn_v.weight_ih_l0" (timm) or '
                         f'"blocks.0.0.*" (official release); found {sample}'
                         f'{" ..." if len(src) > 8 else ""}')
    out = OrderedDict()
    for key, value in timm_sd.items():
        if key.startswith('head.fc.'):
            out[key] = value
            continue
        if key.startswith('stem.proj.'):
            key = 'stem.' + key[len('stem.proj.'):]
        elif key.startswith('norm.'):
            key = f'norm{num_stages - 1}.' + key[len('norm.'):]
        for old, new in _RENAMES:
            key = key.replace(old, new)
        out['backbone.' + key] = value
    arch = infer_sequencer_arch(out)
    _check_keys(out, arch)
    return out, arch


def infer_sequencer_arch(state_dict: Dict[str, torch.Tensor]) -> Dict:
    """Read layers, patch sizes, widths, hidden sizes and MLP ratios off converted tensors."""
    prefix = 'backbone.'
    num_stages = _stage_count({k[len(prefix):]: v for k, v in state_dict.items()
                               if k.startswith(prefix)})
    arch = dict(layers=[], patch_sizes=[], embed_dims=[], hidden_sizes=[], mlp_ratios=[])
    try:
        for i in range(num_stages):
            blocks = {int(m.group(1)) for k in state_dict
                      for m in [re.match(rf'backbone\.stages\.{i}\.blocks\.(\d+)\.', k)] if m}
            first = f'{prefix}stages.{i}.blocks.0.'
            dim = state_dict[first + 'norm1.weight'].shape[0]
            rnn = state_dict.get(first + 'token_mixer.rnn_v.weight_hh_l0',
                                 state_dict.get(first + 'token_mixer.rnn_h.weight_hh_l0'))
            proj = (state_dict[f'{prefix}stem.weight'] if i == 0
                    else state_dict[f'{prefix}stages.{i}.downsample.proj.weight'])
            arch['layers'].append(len(blocks))
            arch['patch_sizes'].append(proj.shape[-1])
            arch['embed_dims'].append(dim)
            arch['hidden_sizes'].append(rnn.shape[1])
            arch['mlp_ratios'].append(state_dict[first + 'mlp.fc1.weight'].shape[0] / dim)
    except (KeyError, AttributeError) as e:
        raise ValueError(f'Not a complete Sequencer2D checkpoint: cannot find {e} '
                         f'(stage {len(arch["layers"])})') from None
    return arch


def _check_keys(state_dict: Dict[str, torch.Tensor], arch: Dict) -> None:
    from ..backbones import Sequencer2D
    expected = {f'backbone.{k}' for k in Sequencer2D(arch=arch).state_dict()}
    expected |= {k for k in state_dict if k.startswith('head.fc.')}
    missing: List[str] = sorted(expected - set(state_dict))
    unexpected: List[str] = sorted(set(state_dict) - expected)
    if missing or unexpected:
        raise ValueError(f'Checkpoint does not match a Sequencer2D of arch {arch}: '
                         f'missing keys {missing[:10]}{" ..." if len(missing) > 10 else ""}, '
                         f'unexpected keys {unexpected[:10]}'
                         f'{" ..." if len(unexpected) > 10 else ""}')
