"""Loads the C++ step loops of the fused BiLSTM2D (``csrc/lstm2d_steps.cpp``).

The extension is compiled on first use with ``torch.utils.cpp_extension.load`` (about a
minute; then cached under ``$TORCH_EXTENSIONS_DIR``, by default ``~/.cache/torch_extensions``;
concurrent processes, e.g. DDP ranks, load one at a time). It is compiled for the CPU it runs
on (``-march=native``), so the build name carries a hash of the CPU's feature flags: nodes
of a cluster sharing a home directory each get a build they can run.

If it cannot be built (no compiler) the fused mixer falls back to its PyTorch step loop, the
same function, after one warning. ``MMSEQ_LSTM2D_EXT=0`` disables the extension.
"""
import contextlib
import hashlib
import os
import platform
import tempfile
import warnings
from typing import Optional

try:
    import fcntl
except ImportError:  # not POSIX: no cross-process lock
    fcntl = None

_SOURCE = os.path.join(os.path.dirname(__file__), 'csrc', 'lstm2d_steps.cpp')
# -fopenmp: at::parallel_for is inline OpenMP code (it links the libgomp torch has loaded).
# -ffast-math: vectorised reciprocals; every exp's input is clamped, so values stay finite.
_CFLAGS = ['-O3', '-march=native', '-ffast-math', '-fopenmp']
_LDFLAGS = ['-fopenmp']
_state = {'loaded': False, 'module': None}


def _cpu_tag() -> str:
    flags = platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith(('flags', 'Features')):
                    flags += line
                    break
    except OSError:
        pass
    return hashlib.sha1(flags.encode()).hexdigest()[:10]


def enabled() -> bool:
    return os.environ.get('MMSEQ_LSTM2D_EXT', '1') != '0'


@contextlib.contextmanager
def _one_loader_at_a_time(name: str):
    """Serialises the JIT check/build/import across the processes of this machine: DDP ranks
    start their first forward together, and concurrent loads of one build directory
    occasionally aborted a rank ("terminate called without an active exception")."""
    if fcntl is None:
        yield
        return
    with open(os.path.join(tempfile.gettempdir(), f'{name}.load.lock'), 'w') as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def load(verbose: bool = False) -> Optional[object]:
    """The compiled module, or None when disabled or not buildable (warns once)."""
    if not enabled():
        return None
    if not _state['loaded']:
        _state['loaded'] = True
        try:
            from torch.utils.cpp_extension import load as load_extension
            name = f'mmseq_lstm2d_steps_{_cpu_tag()}'
            with _one_loader_at_a_time(name):
                _state['module'] = load_extension(
                    name=name, sources=[_SOURCE], extra_cflags=_CFLAGS,
                    extra_ldflags=_LDFLAGS, verbose=verbose)
        except Exception as e:  # noqa: BLE001 - any build failure means: use the fallback
            warnings.warn(f'mmseq: could not build the BiLSTM2D C++ step loops ({e}); using '
                          'the PyTorch step loop (same results, slower)')
    return _state['module']
