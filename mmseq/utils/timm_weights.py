"""Sequencer2D's public weights in mmseq's layout.

Two pieces, both free of mmseq's model code (this is the bottom layer):

- :func:`convert_sequencer_state_dict`: timm's state-dict layout (``stem.proj.*``,
  ``stages.{i}.blocks.{j}.rnn_tokens.*``, ``head.fc.*``) or the official release's
  (``blocks.{i}.{j}.*`` in ``{'model': ...}``) -> mmpretrain's ``ImageClassifier`` layout
  (``backbone.*`` under mmseq's module names, ``head.fc.*``), checked key by key against the
  layout a Sequencer2D of the inferred arch has;
- :func:`load_timm_sequencer`: ``timm://sequencer2d_{s,m,l}.in1k`` -> ``model.safetensors`` of
  the Hugging Face hub repo ``timm/<name>`` through ``huggingface_hub.hf_hub_download``
  (downloaded once into the hub cache; ``HF_HOME``, ``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE``
  apply as everywhere else), read with safetensors and converted.
"""
import re
from collections import OrderedDict
from typing import Any, Dict, List, Tuple

import torch

TIMM_SCHEME = 'timm://'
HUB_FILENAME = 'model.safetensors'

_S_M_L_WIDTHS = dict(patch_sizes=[7, 2, 1, 1], embed_dims=[192, 384, 384, 384],
                     hidden_sizes=[48, 96, 96, 96], mlp_ratios=[3.0, 3.0, 3.0, 3.0])
# The public Sequencer2D weights on the hub (repo ``timm/<name>``) and the arch their tensors
# have (the paper's S / M / L; tests/test_utils/test_timm_weights.py checks them against
# Sequencer2D.arch_zoo).
TIMM_SEQUENCER_REPOS = {
    'sequencer2d_s.in1k': dict(layers=[4, 3, 8, 3], **_S_M_L_WIDTHS),
    'sequencer2d_m.in1k': dict(layers=[4, 3, 14, 3], **_S_M_L_WIDTHS),
    'sequencer2d_l.in1k': dict(layers=[8, 8, 16, 4], **_S_M_L_WIDTHS),
}

# timm name fragment -> mmseq name fragment
_RENAMES = (
    ('.rnn_tokens.', '.token_mixer.'),
    ('.mlp_channels.', '.mlp.'),
    ('.downsample.down.', '.downsample.proj.'),
)
# One block's tensors in mmseq's names: two LayerNorms, the vertical and horizontal
# bidirectional LSTMs (nn.LSTM's names, ``_reverse`` for the backward direction), the fusing
# linear layer and the channel MLP.
_LSTM_KEYS = tuple(f'{kind}_{part}_l0{rev}' for rev in ('', '_reverse')
                   for kind in ('weight', 'bias') for part in ('ih', 'hh'))
_BLOCK_KEYS = tuple(
    [f'norm{n}.{p}' for n in (1, 2) for p in ('weight', 'bias')]
    + [f'token_mixer.rnn_{d}.{k}' for d in ('v', 'h') for k in _LSTM_KEYS]
    + [f'token_mixer.fc.{p}' for p in ('weight', 'bias')]
    + [f'mlp.fc{n}.{p}' for n in (1, 2) for p in ('weight', 'bias')])


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


def sequencer_classifier_keys(arch: Dict) -> List[str]:
    """The ``backbone.*`` keys of an mmpretrain classifier on a Sequencer2D of ``arch`` (the
    paper's module structure: LSTM mixers, ``union='cat'``, the fusing fc; the final norm only)."""
    keys = [f'backbone.stem.{p}' for p in ('weight', 'bias')]
    for i, depth in enumerate(arch['layers']):
        if i:
            keys += [f'backbone.stages.{i}.downsample.proj.{p}' for p in ('weight', 'bias')]
        keys += [f'backbone.stages.{i}.blocks.{j}.{k}' for j in range(depth) for k in _BLOCK_KEYS]
    last = len(arch['layers']) - 1
    return keys + [f'backbone.norm{last}.{p}' for p in ('weight', 'bias')]


def _check_keys(state_dict: Dict[str, torch.Tensor], arch: Dict) -> None:
    expected = set(sequencer_classifier_keys(arch))
    expected |= {k for k in state_dict if k.startswith('head.fc.')}
    missing: List[str] = sorted(expected - set(state_dict))
    unexpected: List[str] = sorted(set(state_dict) - expected)
    if missing or unexpected:
        raise ValueError(f'Checkpoint does not match a Sequencer2D of arch {arch}: '
                         f'missing keys {missing[:10]}{" ..." if len(missing) > 10 else ""}, '
                         f'unexpected keys {unexpected[:10]}'
                         f'{" ..." if len(unexpected) > 10 else ""}')


# ----------------------------------------------------------------- timm://<name>
def _known_names() -> str:
    return ', '.join(TIMM_SCHEME + n for n in TIMM_SEQUENCER_REPOS)


def resolve_timm_weights(name: str) -> str:
    """Local path of ``model.safetensors`` of the hub repo ``timm/<name>``: the cached copy, or
    downloaded into the cache first (unless ``HF_HUB_OFFLINE`` is set).

    Raises:
        ValueError: ``name`` is not one of :data:`TIMM_SEQUENCER_REPOS`.
        FileNotFoundError: the file is neither in the cache nor downloadable (the message
            names the repo, the file and the cache directory looked in).
    """
    repo_id = f'timm/{name}'
    if name not in TIMM_SEQUENCER_REPOS:
        raise ValueError(f'{TIMM_SCHEME}{name}: the Hugging Face hub repo {repo_id} is not one '
                         f'of the public Sequencer2D weights; use one of {_known_names()}')
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError
    try:
        return hf_hub_download(repo_id=repo_id, filename=HUB_FILENAME)
    except (EntryNotFoundError, HfHubHTTPError) as err:
        why = ('HF_HUB_OFFLINE is set, so nothing is downloaded' if constants.HF_HUB_OFFLINE
               else f'the download failed: {type(err).__name__}: {str(err).splitlines()[0]}')
        raise FileNotFoundError(
            f'{TIMM_SCHEME}{name}: {HUB_FILENAME} of the Hugging Face hub repo {repo_id} is not '
            f'in the hub cache {constants.HF_HUB_CACHE} and {why}. Fetch it where there is '
            f'internet (`hf download {repo_id} {HUB_FILENAME}` with the same HF_HOME) or point '
            f'HF_HOME / HF_HUB_CACHE at a cache that holds it.') from None


def load_timm_sequencer(uri: str, map_location: Any = 'cpu') -> Dict:
    """``timm://sequencer2d_{s,m,l}.in1k`` -> an mmpretrain checkpoint dict:
    ``{'state_dict': {'backbone.*', 'head.fc.*'}, 'meta': {'source', 'file', 'arch'}}``.

    Raises:
        ValueError: an unknown name, or a file that is not that repo's Sequencer2D weights.
        FileNotFoundError: see :func:`resolve_timm_weights`.
    """
    if not uri.startswith(TIMM_SCHEME):
        raise ValueError(f'expected {TIMM_SCHEME}<name>, got {uri!r}')
    name = uri[len(TIMM_SCHEME):]
    path = resolve_timm_weights(name)
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    device = map_location if isinstance(map_location, str) else 'cpu'
    try:
        tensors = load_file(path, device=device)
        state_dict, arch = convert_sequencer_state_dict(tensors)
    except (SafetensorError, ValueError) as err:
        raise ValueError(f'{uri}: {path} (repo timm/{name}) does not hold Sequencer2D '
                         f'weights: {err}') from None
    expected = TIMM_SEQUENCER_REPOS[name]
    if arch != expected:
        raise ValueError(f'{uri}: {path} holds a Sequencer2D of arch {arch}, not the '
                         f'{expected} of timm/{name}')
    return {'state_dict': state_dict, 'meta': {'source': uri, 'file': path, 'arch': arch}}
