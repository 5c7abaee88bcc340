"""An optimizer-wrapper constructor whose optimizer ``torch.compile`` can trace.

With a ``paramwise_cfg`` mmengine's ``DefaultOptimWrapperConstructor`` hands the optimizer
its parameter groups inside the config, which turns them into ``ConfigDict``s; the optimizer
keeps those objects as its ``param_groups``. Dynamo cannot trace an optimizer step over
``ConfigDict`` groups (torch 2.14: ``'UserDefinedDictVariable' object has no attribute
'items'`` in ``AdamW.step``), so mmengine's ``compile=True``, which compiles the whole
``train_step`` including the step, stops at the first iteration.
"""
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper

from mmseq.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class CompilableOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``DefaultOptimWrapperConstructor`` (same arguments, same groups, same values) whose
    optimizer holds its parameter groups as plain ``dict``s.

    Example::

        optim_wrapper = dict(
            type='OptimWrapper', constructor='mmseq.CompilableOptimWrapperConstructor',
            optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
            paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
    """

    def __call__(self, model) -> OptimWrapper:
        optim_wrapper = super().__call__(model)
        groups = optim_wrapper.optimizer.param_groups
        # before any step or scheduler: nothing else holds the group objects yet
        groups[:] = [dict(group) for group in groups]
        return optim_wrapper
