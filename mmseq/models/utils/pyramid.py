"""Stop a segmentor or detector whose neck or heads assume another pyramid than the backbone's.

Sequencer2D's stages have strides 7, 14, 14, 14 (not ResNet's 4, 8, 16, 32). A head that is
told the wrong strides still trains: mmseg's ``FPNHead`` upsamples by the wrong factors, mmdet's
anchors and RoIAlign's ``spatial_scale`` land on the wrong pixels, and only the results are
poor. :func:`check_pyramid_consumers` compares what the model's neck and heads were configured
with against the pyramid that the backbone really produces and raises
:class:`PyramidMismatchError` naming the config keys to change and their right values.

The backbone runs it on its first forward; to see the model around it, it learns its owner
(the module that holds it as ``backbone``) through torch's module registration hook, kept in
a weak mapping so that no reference cycle or unpicklable attribute is added to the model.
"""
import math
import weakref
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

_OWNERS: 'weakref.WeakKeyDictionary[nn.Module, weakref.ref]' = weakref.WeakKeyDictionary()
_GUIDE = 'docs/dense_prediction.md, "Sequencer2D in your own configs"'


class PyramidMismatchError(ValueError):
    """A neck or head configured for another pyramid than the backbone's."""


def watch_owner(backbone_type: type) -> None:
    """Remember, for every instance of ``backbone_type`` assigned as ``<owner>.backbone``,
    its owner (once per process; torch calls the hook on every submodule registration)."""

    def hook(module: nn.Module, name: str, submodule: Optional[nn.Module]):
        if name == 'backbone' and isinstance(submodule, backbone_type):
            _OWNERS[submodule] = weakref.ref(module)

    if not getattr(watch_owner, '_types', None):
        watch_owner._types = set()
    if backbone_type not in watch_owner._types:
        watch_owner._types.add(backbone_type)
        torch.nn.modules.module.register_module_module_registration_hook(hook)


def owner_of(backbone: nn.Module) -> Optional[nn.Module]:
    ref = _OWNERS.get(backbone)
    owner = ref() if ref is not None else None
    return owner if owner is not None and getattr(owner, 'backbone', None) is backbone else None


def _fpn_levels(neck: nn.Module,
                strides: List[int]) -> Optional[Tuple[List[int], List[int]]]:
    """(strides, channels) of an FPN's outputs (mmdet's and mmseg's FPN share these
    attributes: levels start_level..backbone_end_level - 1, then stride-2 extra levels)."""
    keys = ('start_level', 'backbone_end_level', 'num_outs', 'out_channels')
    if not all(hasattr(neck, k) for k in keys):
        return None
    used = strides[neck.start_level:neck.backbone_end_level]
    if not used:
        return None
    out = list(used)
    while len(out) < neck.num_outs:
        out.append(out[-1] * 2)
    return out, [neck.out_channels] * len(out)


def _fmt(values) -> str:
    return '[' + ', '.join(str(v) for v in values) + ']'


def _selected(values: List[int], index) -> List[int]:
    indices = [index] if isinstance(index, int) else list(index)
    return [values[i] for i in indices if -len(values) <= i < len(values)]


def _anchor_strides(generator) -> Optional[List[int]]:
    strides = getattr(generator, 'strides', None)
    if strides is None:
        return None
    return [int(s[0]) if isinstance(s, (tuple, list)) else int(s) for s in strides]


def _head_problems(prefix: str, head: nn.Module, level_strides: List[int]) -> List[str]:
    """Anchor / point strides of a dense detection head (RetinaNet, RPN, FCOS, ...)."""
    generator = getattr(head, 'prior_generator', None)
    given = _anchor_strides(generator) if generator is not None else None
    if given is None:
        return []
    right = level_strides[:len(given)]
    if given == right:
        return []
    # anchor heads take an anchor_generator dict; point heads (FCOS, ...) a strides list
    key = (f'{prefix}.anchor_generator.strides' if hasattr(generator, 'base_sizes')
           else f'{prefix}.strides')
    line = f'  model.{key} = {_fmt(given)}: set it to {_fmt(right)}'
    base_sizes = getattr(generator, 'base_sizes', None)
    if base_sizes is not None and [int(b) for b in base_sizes] == given:
        # base sizes default to the strides: keep the anchors' sizes, move only their centres
        line += (f', and base_sizes={_fmt(given)} so the anchors keep their sizes '
                 '(base_sizes default to the strides)')
    if len(given) > len(level_strides):
        line = (f'  model.{key} has {len(given)} levels but the neck gives '
                f'{len(level_strides)} (strides {_fmt(level_strides)})')
    return [line]


def _roi_problems(prefix: str, roi_head: nn.Module, level_strides: List[int]) -> List[str]:
    problems = []
    for name in ('bbox_roi_extractor', 'mask_roi_extractor'):
        extractors = getattr(roi_head, name, None)
        if extractors is None:
            continue
        many = isinstance(extractors, nn.ModuleList)
        for i, extractor in enumerate(extractors if many else [extractors]):
            given = getattr(extractor, 'featmap_strides', None)
            if given is None:
                continue
            given = [int(s) for s in given]
            right = level_strides[:len(given)]
            if given != right:
                key = f'{prefix}.{name}' + (f'[{i}]' if many else '') + '.featmap_strides'
                problems.append(f'  model.{key} = {_fmt(given)}: set it to {_fmt(right)}')
    return problems


def _decode_head_problems(prefix: str, head: nn.Module, level_strides: List[int],
                          level_channels: List[int], source: str) -> List[str]:
    """mmseg decode heads: the channels of the selected inputs, and FPNHead-style strides."""
    problems = []
    index = getattr(head, 'in_index', None)
    if index is None:
        return problems
    strides, channels = _selected(level_strides, index), _selected(level_channels, index)
    given_channels = getattr(head, 'in_channels', None)
    if isinstance(given_channels, int):
        given_channels = [given_channels]
    if given_channels is not None and getattr(head, 'input_transform', None) != 'resize_concat':
        if list(given_channels) != channels and len(channels) == len(given_channels):
            problems.append(f'  model.{prefix}.in_channels = {_fmt(given_channels)}: {source} '
                            f'gives {_fmt(channels)} at in_index {index}')
    given_strides = getattr(head, 'feature_strides', None)
    if given_strides is not None:
        given_strides = [int(s) for s in given_strides]
        if given_strides != strides:
            fix = f'set it to {_fmt(strides)}'
            if type(head).__name__ == 'FPNHead':
                fix += (" with type='StridedFPNHead' (mmseg's FPNHead needs strides that double "
                        'from level to level)')
            problems.append(f'  model.{prefix}.feature_strides = {_fmt(given_strides)}: {fix}')
    return problems


def _multiple(values, of: int) -> bool:
    values = [values] if isinstance(values, int) else list(values)
    return all(int(v) % of == 0 for v in values)


def _segmentor_padding_problems(model: nn.Module, total_stride: int) -> List[str]:
    """An image whose size is no multiple of the backbone's total stride is padded inside the
    backbone, which mmseg does not know of: the logits of the padded grid are then resized
    onto the unpadded image, shifted by up to a stride. mmseg's data preprocessor pads
    instead, and crops its padding off before resizing."""
    pre = getattr(model, 'data_preprocessor', None)
    if getattr(model, 'decode_head', None) is None or not hasattr(pre, 'size_divisor'):
        return []
    problems = []
    size, divisor = getattr(pre, 'size', None), getattr(pre, 'size_divisor', None)
    if size is not None and not _multiple(size, total_stride):
        problems.append(f'  model.data_preprocessor.size = {tuple(size)}: set size=None and '
                        f'size_divisor={total_stride} (or a size that is a multiple of '
                        f'{total_stride})')
    elif divisor is not None and not _multiple(divisor, total_stride):
        problems.append(f'  model.data_preprocessor.size_divisor = {divisor}: set it to a '
                        f'multiple of {total_stride}')
    test_divisor = (getattr(pre, 'test_cfg', None) or {}).get('size_divisor')
    test_size = (getattr(pre, 'test_cfg', None) or {}).get('size')
    if not (test_divisor and _multiple(test_divisor, total_stride)) and not (
            test_size and _multiple(test_size, total_stride)):
        problems.append(f'  model.data_preprocessor.test_cfg = {getattr(pre, "test_cfg", None)}'
                        f': set it to dict(size_divisor={total_stride})')
    test_cfg = getattr(model, 'test_cfg', None) or {}
    if test_cfg.get('mode') == 'slide' and not _multiple(test_cfg.get('crop_size', ()),
                                                         total_stride):
        problems.append(f'  model.test_cfg.crop_size = {tuple(test_cfg["crop_size"])}: set it '
                        f'to a multiple of {total_stride}')
    return problems


def check_pyramid_consumers(model: nn.Module, strides: Sequence[int],
                            channels: Sequence[int], total_stride: Optional[int] = None) -> None:
    """Raise :class:`PyramidMismatchError` if ``model``'s neck or heads disagree with a
    backbone whose outputs have ``strides`` and ``channels``, or a segmentor's images are not
    padded to a multiple of the backbone's ``total_stride``. Parts that are unknown here
    (other necks, heads without strides) are left alone."""
    strides, channels = [int(s) for s in strides], [int(c) for c in channels]
    problems = []
    level_strides, level_channels, source = strides, channels, 'the backbone'
    neck = getattr(model, 'neck', None)
    if isinstance(neck, nn.Sequential):
        neck = neck[0] if len(neck) == 1 else None
    if neck is not None:
        given = getattr(neck, 'in_channels', None)
        if isinstance(given, (list, tuple)) and list(given) != channels:
            problems.append(f'  model.neck.in_channels = {_fmt(given)}: set it to '
                            f'{_fmt(channels)} (the backbone\'s out_indices give '
                            f'{len(channels)} maps)')
            levels = None
        else:
            levels = _fpn_levels(neck, strides)
        if levels is None:  # a neck this check does not know: its outputs are unknown
            level_strides = None
        else:
            (level_strides, level_channels), source = levels, 'the neck'
    if level_strides is not None:
        for name in ('decode_head', 'auxiliary_head'):
            heads = getattr(model, name, None)
            many = isinstance(heads, nn.ModuleList)
            for i, head in enumerate(heads if many else [heads] if heads is not None else []):
                prefix = f'{name}[{i}]' if many else name
                problems += _decode_head_problems(prefix, head, level_strides, level_channels,
                                                  source)
        for name in ('bbox_head', 'rpn_head'):
            head = getattr(model, name, None)
            if head is not None:
                problems += _head_problems(name, head, level_strides)
        roi_head = getattr(model, 'roi_head', None)
        if roi_head is not None:
            problems += _roi_problems('roi_head', roi_head, level_strides)
    if total_stride:
        problems += _segmentor_padding_problems(model, total_stride)
    if problems:
        pyramid = f'strides {_fmt(strides)}, channels {_fmt(channels)}'
        if source == 'the neck':
            pyramid += f'; the neck gives strides {_fmt(level_strides)}'
        raise PyramidMismatchError(
            f'{type(model).__name__}: the config does not match the backbone\'s pyramid '
            f'(backbone outputs: {pyramid}). Change:\n' + '\n'.join(problems)
            + f'\nSee {_GUIDE}.')


def stage_strides(patch_sizes: Sequence[int]) -> List[int]:
    """The stride of every stage: the running product of the patch sizes."""
    return [math.prod(patch_sizes[:i + 1]) for i in range(len(patch_sizes))]
