"""The bottom layer: CPU distribution and safe checkpoint loading; imports nothing else of mmseq.

Importing this package allow-lists the objects of mmengine checkpoints for
``torch.load(weights_only=True)`` (see :mod:`mmseq.utils.checkpoint`).
"""
from .checkpoint import load_checkpoint_weights_only, register_mmengine_safe_globals
from .dist import (destroy_distributed, distributed_session, print_log_rank0,
                   setup_cpu_distributed)

register_mmengine_safe_globals()

__all__ = [
    'load_checkpoint_weights_only', 'register_mmengine_safe_globals', 'setup_cpu_distributed',
    'destroy_distributed', 'distributed_session', 'print_log_rank0'
]
