"""Training-engine parts registered for configs: bf16 autocast on any device, an optimizer
constructor torch.compile can trace, a CheckpointHook that never leaves a half-written
checkpoint behind, and the hook of ``tools/test.py --show-dir``. :mod:`mmseq.engine.runner`
turns the training and testing tools' command lines into a Runner."""
from .checkpoint_hook import AtomicCheckpointHook
from .optim_constructor import CompilableOptimWrapperConstructor
from .optim_wrapper import AutocastOptimWrapper
from .visualization_hook import ShowDirHook

__all__ = ['AtomicCheckpointHook', 'AutocastOptimWrapper', 'CompilableOptimWrapperConstructor',
           'ShowDirHook']
