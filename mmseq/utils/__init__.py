"""The bottom layer: config reading, CPU distribution, safe checkpoint loading, the public
weights' conversion and their ``timm://`` names, atomic file writing and RNN handles for
mmengine's FLOP counter; it imports nothing else of mmseq.

Importing this package allow-lists the objects of mmengine checkpoints for
``torch.load(weights_only=True)`` (see :mod:`mmseq.utils.checkpoint`).
"""
from .checkpoint import (download_checkpoint, is_url, load_checkpoint_weights_only,
                         register_mmengine_safe_globals, register_timm_scheme)
from .config import get_test_pipeline, load_config
from .device import DEVICE_ENV, nvidia_driver_version, resolve_device  # noqa: F401
from .dist import (destroy_distributed, distributed_session, print_log_rank0,
                   setup_cpu_distributed)
from .fileio import atomic_save, atomic_write_bytes
from .flop_handles import register_mmengine_flop_handles
from .timm_weights import (TIMM_SCHEME, TIMM_SEQUENCER_REPOS, convert_sequencer_state_dict,
                           infer_sequencer_arch, load_timm_sequencer, resolve_timm_weights)

register_mmengine_safe_globals()

__all__ = [
    'load_checkpoint_weights_only', 'download_checkpoint', 'is_url',
    'register_mmengine_safe_globals', 'load_config',
    'get_test_pipeline', 'setup_cpu_distributed', 'destroy_distributed', 'distributed_session',
    'print_log_rank0', 'atomic_save', 'atomic_write_bytes', 'register_mmengine_flop_handles',
    'register_timm_scheme', 'TIMM_SCHEME', 'TIMM_SEQUENCER_REPOS', 'convert_sequencer_state_dict',
    'infer_sequencer_arch', 'load_timm_sequencer', 'resolve_timm_weights'
]
