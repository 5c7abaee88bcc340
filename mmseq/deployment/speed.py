"""onnxruntime against PyTorch eager, side by side in one process: the time of one image's
prediction from the test pipeline's output to the data sample (preprocessing, network,
post-processing), PyTorch as users run it (``mixer_impl='auto'``: the fused CPU loops)."""
from typing import Dict, List

import torch

from ..utils.timing import cpu_model, time_interleaved
from .agreement import pytorch_predict


def time_side_by_side(model, onnx_model, data: dict, repeats: int = 5) -> Dict[str, float]:
    """Median seconds of ``repeats`` runs of each, alternating (PyTorch, onnxruntime), after
    one warm-up run of each."""
    return time_interleaved({'pytorch': lambda: pytorch_predict(model, data),
                             'onnxruntime': lambda: onnx_model.predict_loaded(data)}, repeats)


def speed_table(rows: List[dict]) -> str:
    lines = [f'CPU: {cpu_model()}; torch threads {torch.get_num_threads()}',
             f'{"image":40s}  {"input":>9s}  {"PyTorch ms":>10s}  {"onnxrt ms":>10s}  '
             f'{"PyTorch/onnxrt":>14s}']
    for r in rows:
        lines.append(f'{r["image"][:40]:40s}  {r["input"]:>9s}  {1e3 * r["pytorch"]:10.1f}  '
                     f'{1e3 * r["onnxruntime"]:10.1f}  {r["pytorch"] / r["onnxruntime"]:14.2f}')
    return '\n'.join(lines)
