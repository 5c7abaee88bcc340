"""What every speed figure carries: the machine it was measured on, and times taken side by
side (the contenders interleaved, so a change of load or clock hits them all alike)."""
import datetime
import os
import platform
import statistics
import subprocess
import time
from typing import Callable, Dict


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo (else ``lscpu``, else Python's guess)."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    try:
        out = subprocess.run(['lscpu'], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith('Model name:'):
                return line.split(':', 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine() or 'unknown CPU'


def machine_info(device: str = 'cpu') -> Dict[str, str]:
    """CPU model, cores (those this process may use / all), the load average of the last
    minute when measured, torch's version, the date, and the GPU for a CUDA device."""
    import torch
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    info = dict(cpu=cpu_model(), cores=f'{usable}/{os.cpu_count()}', torch=torch.__version__,
                date=datetime.date.today().isoformat())
    if hasattr(os, 'getloadavg'):
        info['load'] = f'{os.getloadavg()[0]:.1f}'
    if str(device).startswith('cuda') and torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name(torch.device(device))
    return info


def machine_line(info: Dict[str, str]) -> str:
    """``machine_info`` as one line for a table's header."""
    gpu = f', {info["gpu"]}' if info.get('gpu') else ''
    load = f', load {info["load"]}' if info.get('load') else ''
    return (f'{info["cpu"]}, {info["cores"]} cores{gpu}{load}; torch {info["torch"]}; '
            f'{info["date"]}')


def time_interleaved(runs: Dict[str, Callable[[], object]], repeats: int) -> Dict[str, float]:
    """Median seconds of each callable over ``repeats`` rounds, one call of each per round in
    turn, after one warm-up call of each."""
    for fn in runs.values():
        fn()
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}
