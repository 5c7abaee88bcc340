"""Build the export module of any mmseq config and write it as an ONNX file.

The exporter is torch.onnx's TorchScript-based one (``dynamo=False``): it maps ``nn.LSTM`` to
the ONNX ``LSTM`` operator and needs no extra package. The BiLSTM2D mixers are built with
``mixer_impl='reference'`` (``nn.LSTM``), which loads the same weights as the fused CPU
loops. The file records what the inference side needs in its metadata: the task, the config
(for the test pipeline) and the class names and palette.
"""
import contextlib
import copy
import json
import os
import os.path as osp
import sys
import tempfile
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from mmseq.apis import init_model
from mmseq.utils import load_config
from mmseq.utils.config import ConfigType

from .graphs import ExportError, graph_of
from .ops import replace_adaptive_pools

DEFAULT_OPSET = 17  # RoiAlign's half-pixel mode (mmcv's aligned=True) needs opset >= 16


def reference_mixers(cfg) -> Dict[str, str]:
    """The ``--cfg-options`` that build a config's Sequencer backbone with ``nn.LSTM`` mixers
    (none for other backbones)."""
    model = cfg.model
    key, backbone = ('model.backbone', model.get('backbone')) if 'backbone' in model \
        else ('model', model)
    if backbone is not None and 'Sequencer' in str(backbone.get('type', '')):
        return {f'{key}.mixer_impl': 'reference'}
    return {}


def dataset_meta_of(model: nn.Module) -> dict:
    """Class names and palette: from the checkpoint if it recorded them, else from the dataset
    class the config tests on (empty if neither is known)."""
    from mmengine.registry import DATASETS
    meta = getattr(model, 'dataset_meta', None)
    if meta and meta.get('classes'):
        return {k: meta[k] for k in ('classes', 'palette') if meta.get(k) is not None}
    dataset = ((model.cfg.get('test_dataloader') or {}).get('dataset') or {})
    metainfo = dict(dataset.get('metainfo') or {})
    if not metainfo.get('classes') and dataset.get('type'):
        with DATASETS.switch_scope_and_registry(model.cfg.get('default_scope')) as registry:
            dataset_cls = registry.get(dataset['type'])
        metainfo = {**dict(getattr(dataset_cls, 'METAINFO', {}) or {}), **metainfo}
    return {k: list(map(list, v)) if k == 'palette' else list(v)
            for k, v in metainfo.items() if k in ('classes', 'palette') and v is not None}


def build_graph(config: ConfigType, checkpoint: Optional[str] = None,
                backbone_only: bool = False,
                cfg_options: Optional[dict] = None) -> Tuple[nn.Module, nn.Module]:
    """Build a config's model with reference mixers and wrap it for export.

    Returns ``(graph, model)``; the model keeps ``cfg`` (without the mixer override) and, when
    the checkpoint records it, ``dataset_meta``. Raises :class:`ExportError` for a model
    or a test setting the export does not support."""
    cfg = load_config(config, cfg_options)
    user_cfg = copy.deepcopy(cfg)
    model = init_model(cfg, checkpoint, device='cpu', cfg_options=reference_mixers(cfg))
    model.cfg = user_cfg
    graph = graph_of(model, backbone_only)
    # UperNet's pyramid pooling: its adaptive pools otherwise fix H and W in the graph.
    replace_adaptive_pools(graph)
    return graph.eval(), model


def _example(graph: nn.Module, shape: Sequence[int]) -> torch.Tensor:
    model = getattr(graph, 'backbone', None) or getattr(graph, 'classifier', None) or graph
    backbone = getattr(model, 'backbone', model)
    channels = getattr(backbone, 'in_channels', 3)
    if graph.input_name == 'image':  # pixel values
        return torch.randint(0, 256, (1, 3, *shape), generator=torch.Generator().manual_seed(0)
                             ).float()
    return torch.randn(1, channels, *shape, generator=torch.Generator().manual_seed(0))


def _output_spec(graph: nn.Module, outputs) -> Tuple[List[str], Dict[str, Dict[int, str]]]:
    axes = dict(graph.dynamic_axes)
    if graph.task == 'backbone':
        names = [f'out{i}' for i in range(len(outputs))]
        for i, name in enumerate(names):
            axes[name] = {0: 'batch', 2: f'height{i}', 3: f'width{i}'}
        return names, axes
    return list(graph.output_names), axes


# Test-pipeline steps the torch-free runtime (tools/deployment/ort_serve.py) reproduces, and
# those it skips (ground-truth loading, packing).
_RUNTIME_LOADERS = ('LoadImageFromFile', )
_RUNTIME_RESIZES = ('Resize', )
_RUNTIME_SKIPPED = ('LoadAnnotations', 'LoadSegLabels', 'PackSegInputs', 'PackDetInputs',
                    'PackInputs')
RUNTIME_FORMAT = 1


def runtime_pipeline(cfg) -> dict:
    """The test pipeline as plain data: ``{'resize': {...} or None}``, or ``{'unsupported':
    reason}`` for a step the torch-free runtime does not reproduce."""
    from mmseq.utils import get_test_pipeline
    resize = None
    for step in get_test_pipeline(cfg):
        kind = str(step.get('type', '')).split('.')[-1]
        if kind in _RUNTIME_SKIPPED:
            continue
        if kind in _RUNTIME_LOADERS:
            if step.get('color_type', 'color') != 'color':
                return {'unsupported': f"{kind}(color_type={step['color_type']!r}): only "
                        "'color' images are read by the torch-free runtime"}
            continue
        if kind in _RUNTIME_RESIZES and resize is None:
            scale = step.get('scale')
            resize = dict(
                scale=[scale, scale] if isinstance(scale, int) else
                (list(scale) if scale is not None else None),
                scale_factor=step.get('scale_factor'),
                keep_ratio=bool(step.get('keep_ratio', False)),
                interpolation=step.get('interpolation', 'bilinear'))
            if resize['interpolation'] != 'bilinear' or step.get('backend', 'cv2') != 'cv2':
                return {'unsupported': f'{kind}(interpolation={resize["interpolation"]!r}, '
                        f'backend={step.get("backend", "cv2")!r}): only cv2 bilinear resizing '
                        'is reproduced by the torch-free runtime'}
            continue
        return {'unsupported': f'test-pipeline step {kind!r} is not reproduced by the '
                'torch-free runtime (it reads images and resizes them only)'}
    return {'resize': resize}


def runtime_metadata(graph: nn.Module, model: nn.Module) -> dict:
    """Everything ``tools/deployment/ort_serve.py`` needs, as plain JSON (no config to
    parse): the resize, class names and palette, thresholds."""
    meta = dict(format=RUNTIME_FORMAT, task=graph.task, input=graph.input_name,
                **runtime_pipeline(model.cfg), **dataset_meta_of(model))
    if graph.task == 'segmentation':
        head = model.decode_head
        meta['align_corners'] = bool(head.align_corners)
        meta['seg_threshold'] = getattr(head, 'threshold', None)
    else:
        test_cfg = model.test_cfg or {}
        rcnn = test_cfg.get('rcnn') if 'rcnn' in test_cfg else test_cfg
        meta['score_thr'] = float(rcnn.get('score_thr', 0.0))
        meta['max_per_img'] = int(rcnn.get('max_per_img', 100))
    if graph.task == 'instance_segmentation':
        meta['mask_thr_binary'] = float(model.roi_head.test_cfg.get('mask_thr_binary', 0.5))
    return meta


def metadata_of(graph: nn.Module, model: nn.Module) -> Dict[str, str]:
    """What the inference side reads from the file (``mmseq.*`` metadata keys):
    ``mmseq.config`` for the full-stack runtime (``mmseq.deployment.runtime``),
    ``mmseq.runtime`` (plain JSON) for the torch-free one (``tools/deployment/ort_serve.py``)."""
    meta = {'mmseq.task': graph.task, 'mmseq.input': graph.input_name}
    if graph.task in ('segmentation', 'detection', 'instance_segmentation'):
        meta['mmseq.config'] = model.cfg.pretty_text
        meta['mmseq.dataset_meta'] = json.dumps(dataset_meta_of(model))
        meta['mmseq.runtime'] = json.dumps(runtime_metadata(graph, model))
    if graph.task == 'segmentation':
        head = model.decode_head
        meta['mmseq.align_corners'] = json.dumps(bool(head.align_corners))
        meta['mmseq.seg_threshold'] = json.dumps(getattr(head, 'threshold', None))
    if graph.task == 'instance_segmentation':
        meta['mmseq.mask_thr_binary'] = json.dumps(
            float(model.roi_head.test_cfg.get('mask_thr_binary', 0.5)))
    return meta


@contextlib.contextmanager
def _exporter_output():
    """Hold back what the exporter writes to stdout and stderr itself (on a failure it prints
    the whole traced graph, hundreds of lines, before raising); replay it on success."""
    held = {}
    for fd, stream in ((1, sys.stdout), (2, sys.stderr)):
        stream.flush()
        held[fd] = (os.dup(fd), tempfile.TemporaryFile(mode='w+b'))
        os.dup2(held[fd][1].fileno(), fd)
    ok = False
    try:
        yield
        ok = True
    finally:
        for fd, stream in ((1, sys.stdout), (2, sys.stderr)):
            stream.flush()
            saved, buffer = held[fd]
            os.dup2(saved, fd)
            os.close(saved)
            if ok:
                buffer.seek(0)
                text = buffer.read().decode(errors='replace')
                if text.strip():
                    stream.write(text)
            buffer.close()


def _short(error: BaseException) -> str:
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def export_onnx(graph: nn.Module, out: str, shape: Sequence[int], opset: int = DEFAULT_OPSET,
                metadata: Optional[Dict[str, str]] = None) -> List[str]:
    """Trace ``graph`` on a (1, C, H, W) example of ``shape`` and write ``out``; returns the
    output names. Failures of the exporter come back as :class:`ExportError` with the
    operator or the reason in one line."""
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f'shape must be two positive sizes (H, W), got {list(shape)}')
    if opset < 16 and graph.task == 'instance_segmentation':
        raise ExportError(f'opset {opset} has no half-pixel RoiAlign (mmcv aligned=True); '
                          'use --opset 16 or later')
    example = _example(graph, shape)
    with torch.no_grad():
        outputs = graph(example)  # eager errors (e.g. an image smaller than a patch) first
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs, )
    names, axes = _output_spec(graph, outputs)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    try:
        with torch.no_grad(), warnings.catch_warnings(), _exporter_output():
            # the trace's warnings about Python values (shapes) are handled by the graphs
            warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
            warnings.filterwarnings('ignore', category=DeprecationWarning)
            warnings.filterwarnings('ignore', message='.*LSTM.*')
            torch.onnx.export(graph, (example, ), out, input_names=[graph.input_name],
                              output_names=names, dynamic_axes=axes, opset_version=opset,
                              dynamo=False, do_constant_folding=True)
    except torch.onnx.errors.UnsupportedOperatorError as e:
        raise ExportError(f'{type(graph).__name__}: an operator has no ONNX form at opset '
                          f'{opset}: {_short(e)}') from e
    except (torch.onnx.errors.OnnxExporterError, RuntimeError) as e:
        raise ExportError(f'{type(graph).__name__}: the ONNX exporter failed at opset {opset}: '
                          f'{_short(e)}') from e
    if metadata:
        import onnx
        proto = onnx.load(out)
        for key, value in metadata.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, out)
    return names


def export(config: ConfigType, out: str, checkpoint: Optional[str] = None,
           shape: Sequence[int] = (224, 224), backbone_only: bool = False,
           cfg_options: Optional[dict] = None, opset: int = DEFAULT_OPSET):
    """Config (+ checkpoint) -> ONNX file. Returns ``(graph, model, output_names)``."""
    graph, model = build_graph(config, checkpoint, backbone_only, cfg_options)
    names = export_onnx(graph, out, shape, opset, metadata_of(graph, model))
    return graph, model, names
