"""Training-engine parts registered for configs: bf16 autocast on any device and a
CheckpointHook that never leaves a half-written checkpoint behind."""
from .checkpoint_io import AtomicCheckpointHook, atomic_save, atomic_write_bytes
from .optim_wrapper import AutocastOptimWrapper

__all__ = ['AtomicCheckpointHook', 'AutocastOptimWrapper', 'atomic_save', 'atomic_write_bytes']
