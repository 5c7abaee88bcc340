"""onnxruntime against PyTorch: the checks of ``pytorch2onnx.py --verify``,
``onnx_infer.py --verify`` and ``onnx_agreement.py``.

The PyTorch side is the model as users run it (``mixer_impl='auto'``: the fused CPU loops),
through its own ``test_step``; both sides get the same test-pipeline output for an image.
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

import numpy as np
import torch

from mmseq.apis import init_model

from .agreement import Agreement, compare, detection_limits, format_table, pytorch_predict
from .runtime import OnnxModel

TENSOR_ATOL = 1e-4


@dataclass
class Report:
    ok: bool
    text: str


def example_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A deterministic BGR uint8 image with structure at several scales (smooth blobs and
    edges, not white noise), for checks without an image file."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.zeros((height, width, 3), np.float32)
    for _ in range(12):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        r = rng.uniform(0.05, 0.4) * max(height, width)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        img += blob[..., None] * rng.uniform(-120, 120, 3)
    img += 128 + rng.normal(0, 8, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def agreement_on_images(model: torch.nn.Module, onnx_model: OnnxModel,
                        images: Sequence[Union[str, np.ndarray]],
                        names: Optional[Sequence[str]] = None) -> List[Agreement]:
    rows = []
    limits = detection_limits(model)  # cut-offs where the two runtimes may break ties apart
    for k, img in enumerate(images):
        name = names[k] if names else (img if isinstance(img, str) else f'array{k}')
        data = onnx_model.load(img)
        ref = pytorch_predict(model, data)
        got = onnx_model.predict_loaded(onnx_model.load(img))
        row = compare(ref, got, name, limits)
        ori = data['data_samples'].ori_shape
        row.image = f'{name} ({ori[1]}x{ori[0]})'
        rows.append(row)
    return rows


def _tensor_outputs(model, task: str, x: torch.Tensor):
    with torch.no_grad():
        if task == 'backbone':
            return [t.numpy() for t in getattr(model, 'backbone', model)(x)]
        return [model.head(model.extract_feat(x)).numpy()]


def verify_tensors(task: str, onnx_path: str, model: torch.nn.Module,
                   shapes: Sequence[Sequence[int]], atol: float = TENSOR_ATOL) -> Report:
    """Backbone / classifier files: max abs difference on random normalised batches."""
    import onnxruntime as ort
    session = ort.InferenceSession(onnx_path, providers=['CPUExecutionProvider'])
    backbone = getattr(model, 'backbone', model)
    lines, ok = [], True
    for shape in shapes:
        x = torch.randn(2, getattr(backbone, 'in_channels', 3), *shape,
                        generator=torch.Generator().manual_seed(0))
        got = session.run(None, {'input': x.numpy()})
        ref = _tensor_outputs(model, task, x)
        err = max(float(np.abs(g - r).max()) for g, r in zip(got, ref))
        ok &= err <= atol
        lines.append(f'{shape[0]}x{shape[1]} (batch 2): max abs difference {err:.3g} '
                     f'({"ok" if err <= atol else f"> {atol}"})')
    return Report(ok, 'onnxruntime vs PyTorch: ' + '; '.join(lines))


def verify_export(task: str, onnx_path: str, config, checkpoint: Optional[str],
                  shape: Sequence[int], cfg_options: Optional[dict] = None,
                  images: Sequence[str] = (), state_dict: Optional[dict] = None) -> Report:
    """Compare an exported file with the PyTorch model at ``shape`` and at an odd size
    (dynamic axes), or on ``images`` when given. ``state_dict``: the exported model's
    weights, for a file exported without a checkpoint (random weights)."""
    model = init_model(config, checkpoint, device='cpu', cfg_options=cfg_options)
    if checkpoint is None and state_dict is not None:
        model.load_state_dict(state_dict)
    odd = (shape[0] + 5, shape[1] + 9)
    if task in ('backbone', 'classification'):
        return verify_tensors(task, onnx_path, model, [shape, odd])
    onnx_model = OnnxModel(onnx_path)
    if images:
        rows = agreement_on_images(model, onnx_model, images)
    else:
        rows = agreement_on_images(model, onnx_model,
                                   [example_image(*shape), example_image(*odd, seed=1)],
                                   names=['example', 'example'])
    return Report(all(r.ok for r in rows), format_table(rows))
