"""mmseq: Sequencer2D (BiLSTM2D token mixing) backbones for the OpenMMLab stack.

Importing any part of mmseq (``import mmseq.models``, as a config's ``custom_imports`` does)
first runs this file, which makes the OpenMMLab entry points work with mmseq's models:
mmengine's checkpoint objects become loadable with ``torch.load(weights_only=True)``, the
default of torch >= 2.6 (an exact allow-list, :mod:`mmseq.utils.checkpoint`), so the
libraries' ``tools/train.py`` (``load_from``, ``--resume``), ``tools/test.py`` and Inferencers
load mmengine checkpoints.
"""
from .utils import register_mmengine_safe_globals
from .version import __version__

register_mmengine_safe_globals()

__all__ = ['__version__']
