"""onnxruntime against PyTorch eager, side by side in one process: the time of one image's
prediction from the test pipeline's output to the data sample (preprocessing, network,
post-processing), PyTorch as users run it (``mixer_impl='auto'``: the fused CPU loops)."""
import platform
import statistics
import subprocess
import time
from typing import Dict, List

import torch

from .agreement import pytorch_predict


def cpu_model() -> str:
    try:
        out = subprocess.run(['lscpu'], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith('Model name'):
                return line.split(':', 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or 'unknown CPU'


def time_side_by_side(model, onnx_model, data: dict, repeats: int = 5) -> Dict[str, float]:
    """Median seconds of ``repeats`` runs of each, alternating (PyTorch, onnxruntime), after
    one warm-up run of each."""
    runs = {'pytorch': lambda: pytorch_predict(model, data),
            'onnxruntime': lambda: onnx_model.predict_loaded(data)}
    times: Dict[str, List[float]] = {k: [] for k in runs}
    for fn in runs.values():
        fn()
    for _ in range(repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def speed_table(rows: List[dict]) -> str:
    lines = [f'CPU: {cpu_model()}; torch threads {torch.get_num_threads()}',
             f'{"image":40s}  {"input":>9s}  {"PyTorch ms":>10s}  {"onnxrt ms":>10s}  '
             f'{"PyTorch/onnxrt":>14s}']
    for r in rows:
        lines.append(f'{r["image"][:40]:40s}  {r["input"]:>9s}  {1e3 * r["pytorch"]:10.1f}  '
                     f'{1e3 * r["onnxruntime"]:10.1f}  {r["pytorch"] / r["onnxruntime"]:14.2f}')
    return '\n'.join(lines)
