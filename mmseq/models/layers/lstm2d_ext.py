"""The fused BiLSTM2D's C++ step loops (``csrc/lstm2d_steps.cpp``): where they come from.

1. **Prebuilt** (the normal case): ``make setup`` / ``pip install -e .`` compiles them with
   ``setup.py`` into the package as ``mmseq/models/layers/_lstm2d_steps*.so`` and writes
   ``_lstm2d_steps.build`` beside it: the CPU tag and source hash it was built for. ``load()``
   imports it as a plain module (no compiler, no subprocess) when both match this process.
2. **JIT fallback**: a checkout that was not built, a changed source, or a cluster node whose
   CPU differs from the build machine's compiles them with ``torch.utils.cpp_extension.load``
   (about a minute once, then cached per CPU under ``$TORCH_EXTENSIONS_DIR``, by default
   ``~/.cache/torch_extensions``).
3. Neither (no compiler, or ``MMSEQ_LSTM2D_EXT=0``): ``None``; the fused mixer then runs
   ``nn.LSTM`` on the same parameters (the same function), after one warning.

The loops are compiled for the CPU they run on (``-march=native``), hence the CPU tag.
This module imports only the standard library at the top: ``setup.py`` reads its build
settings without importing torch or mmseq.
"""
import hashlib
import importlib
import os
import platform
import warnings
from typing import Optional

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, 'csrc', 'lstm2d_steps.cpp')
PREBUILT_MODULE = 'mmseq.models.layers._lstm2d_steps'
BUILD_INFO = os.path.join(HERE, '_lstm2d_steps.build')
# -fopenmp: at::parallel_for is inline OpenMP code (it links the libgomp torch has loaded).
# -ffast-math: vectorised reciprocals; every exp's input is clamped, so values stay finite.
CFLAGS = ['-O3', '-march=native', '-ffast-math', '-fopenmp']
LDFLAGS = ['-fopenmp']
_state = {'resolved': False, 'module': None, 'origin': None}


def cpu_tag() -> str:
    """Hash of this CPU's architecture and feature flags (what ``-march=native`` sees)."""
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


def source_hash() -> str:
    with open(SOURCE, 'rb') as f:
        return hashlib.sha1(f.read() + ' '.join(CFLAGS + LDFLAGS).encode()).hexdigest()[:10]


def build_info() -> str:
    """What ``_lstm2d_steps.build`` records: a build is usable where this line is the same."""
    return f'cpu={cpu_tag()} source={source_hash()}\n'


def enabled() -> bool:
    return os.environ.get('MMSEQ_LSTM2D_EXT', '1') != '0'


def origin() -> Optional[str]:
    """'prebuilt', 'jit' or None: where the loaded step loops came from."""
    load()
    return _state['origin']


def prebuilt_ready() -> bool:
    """Whether the package holds a build of the current source for this CPU (not imported)."""
    try:
        with open(BUILD_INFO) as f:
            return f.read() == build_info()
    except OSError:
        return False  # not built with setup.py


def _prebuilt() -> Optional[object]:
    # Importing a -march=native build on another CPU could die of SIGILL: check first.
    return importlib.import_module(PREBUILT_MODULE) if prebuilt_ready() else None


def _jit() -> object:
    from torch.utils.cpp_extension import load as load_extension

    # torch serialises concurrent builds of one name with a file lock in the build folder.
    return load_extension(name=f'mmseq_lstm2d_steps_{cpu_tag()}', sources=[SOURCE],
                          extra_cflags=CFLAGS, extra_ldflags=LDFLAGS)


def load() -> Optional[object]:
    """The compiled module, or None when disabled or not buildable (warns once)."""
    if not enabled():
        return None
    if not _state['resolved']:
        _state['resolved'] = True
        try:
            module = _prebuilt()
            if module is not None:
                _state.update(module=module, origin='prebuilt')
            else:
                _state.update(module=_jit(), origin='jit')
        except Exception as e:  # noqa: BLE001 - any build failure means: use the fallback
            warnings.warn(f'mmseq: could not build the BiLSTM2D C++ step loops ({e}); the '
                          'fused BiLSTM2D runs nn.LSTM instead (same results, slower)')
    return _state['module']
