"""Which device the tools run on: chosen once, and never silently.

A torch build whose CUDA is newer than the machine's NVIDIA driver (or a CPU-only build on a
GPU machine) makes ``torch.cuda.is_available()`` false, and a tool that then falls back to the
CPU trains for days where it should have taken hours. :func:`resolve_device` refuses that
fallback: without CUDA on a machine whose ``nvidia-smi`` answers, it stops with a message
naming torch's CUDA version and the driver's, unless CPU was asked for on purpose
(``--device cpu`` or ``MMSEQ_DEVICE=cpu``).
"""
import os
import shutil
import subprocess
import warnings
from typing import Optional

import torch

DEVICE_ENV = 'MMSEQ_DEVICE'


def nvidia_driver_version(timeout: float = 10.0) -> Optional[str]:
    """The NVIDIA driver version that ``nvidia-smi`` reports (e.g. '550.54.15'), or None when
    there is no ``nvidia-smi`` on ``PATH`` or it fails (no driver loaded, no GPU)."""
    exe = shutil.which('nvidia-smi')
    if exe is None:
        return None
    try:
        proc = subprocess.run([exe, '--query-gpu=driver_version', '--format=csv,noheader'],
                              capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    versions = sorted({line.strip() for line in proc.stdout.splitlines() if line.strip()})
    if proc.returncode != 0 or not versions:
        return None
    return ', '.join(versions)


def _torch_build() -> str:
    if torch.version.cuda:
        return f'torch {torch.__version__} is built for CUDA {torch.version.cuda}'
    return f'torch {torch.__version__} is a CPU-only build (torch.version.cuda is None)'


def _cuda_available() -> tuple:
    """``torch.cuda.is_available()`` and what torch warned while answering (e.g. 'The NVIDIA
    driver on your system is too old')."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        available = torch.cuda.is_available()
    return available, [str(w.message).strip() for w in caught]


def gpus_hidden() -> bool:
    """Whether ``CUDA_VISIBLE_DEVICES`` hides every GPU on purpose ('' or '-1', mmengine's
    convention for CPU training)."""
    value = os.environ.get('CUDA_VISIBLE_DEVICES')
    return value is not None and (value.strip() == '' or value.strip().startswith('-'))


def _no_cuda_message(requested: str, driver: Optional[str], said: list) -> str:
    asked = 'no --device given (auto)' if requested == 'auto' else f'--device {requested}'
    lines = [f'{asked}: CUDA is not available to this process; {_torch_build()},']
    if driver is not None:
        lines.append(f'but this machine has an NVIDIA driver (nvidia-smi: driver {driver}).')
    else:
        lines.append('and no NVIDIA driver answers (nvidia-smi is missing or fails).')
    lines += [f'torch says: {msg}' for msg in said]
    if os.environ.get('CUDA_VISIBLE_DEVICES') is not None:
        lines.append(f'CUDA_VISIBLE_DEVICES={os.environ["CUDA_VISIBLE_DEVICES"]!r} is set.')
    if driver is not None:
        lines.append('Install a torch build for this driver (https://pytorch.org/get-started/'
                     'locally/) or update the driver; to run on CPU on purpose, pass '
                     f'--device cpu or set {DEVICE_ENV}=cpu.')
    return '\n'.join(lines)


def resolve_device(requested: Optional[str] = None) -> torch.device:
    """The device a tool runs on.

    Args:
        requested: 'auto', 'cpu', 'cuda' or 'cuda:N' (a tool's ``--device``); None reads
            ``$MMSEQ_DEVICE``, and without it means 'auto'.

    Returns:
        torch.device: 'auto' gives CUDA where it is available, and the CPU where the machine
        has no working NVIDIA driver or ``CUDA_VISIBLE_DEVICES`` hides the GPUs ('' or '-1');
        'cpu' gives the CPU; 'cuda[:N]' gives that GPU.

    Raises:
        SystemExit: CUDA is unavailable and either it was asked for, or 'auto' found an
            NVIDIA driver (``nvidia-smi`` answers): the message names torch's CUDA version
            and the driver's. Also for a GPU index beyond the visible ones.
        ValueError: ``requested`` is none of the above.
    """
    choice = (requested or os.environ.get(DEVICE_ENV) or 'auto').strip().lower()
    if choice == 'cpu':
        return torch.device('cpu')
    if choice != 'auto':
        try:
            device = torch.device(choice)
        except RuntimeError:
            device = None
        if device is None or device.type != 'cuda':
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got "
                             f'{choice!r}')
    available, said = _cuda_available()
    if available:
        if choice == 'auto':
            return torch.device('cuda')
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise SystemExit(f'--device {choice}: this process sees {count} GPU(s) (cuda:0 to '
                             f'cuda:{count - 1}; CUDA_VISIBLE_DEVICES='
                             f'{os.environ.get("CUDA_VISIBLE_DEVICES")!r})')
        return device
    if choice == 'auto' and gpus_hidden():
        return torch.device('cpu')
    driver = nvidia_driver_version()
    if choice == 'auto' and driver is None:
        return torch.device('cpu')
    raise SystemExit(_no_cuda_message(choice, driver, said))
