"""Mixed precision without a GPU.

mmengine's ``AmpOptimWrapper`` asserts that CUDA/NPU/MLU is present and always adds a
GradScaler. bfloat16 keeps fp32's exponent range, so it needs no loss scaling and runs on CPUs
with ``torch.autocast('cpu')``; this wrapper only adds that context to the forward pass.
"""
from contextlib import contextmanager
from typing import Optional, Union

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper

from mmseq.registry import OPTIM_WRAPPERS

_DTYPES = {'bfloat16': torch.bfloat16, 'float16': torch.float16}


def _model_device_type(model: nn.Module) -> str:
    for p in model.parameters():
        return p.device.type
    return 'cpu'


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward pass runs under ``torch.autocast``.

    Backward, step, gradient clipping/accumulation and the state dict are those of
    :class:`mmengine.optim.OptimWrapper` (there is no loss scaler to save).

    Args:
        dtype: 'bfloat16' (default) or 'float16'. float16 on CUDA needs loss scaling: use
            mmengine's ``AmpOptimWrapper`` for that.
        device_type: autocast device ('cpu', 'cuda', ...); default: the device of the model's
            first parameter, found when the forward pass starts.
        **kwargs: ``OptimWrapper`` arguments (``optimizer``, ``clip_grad``,
            ``accumulative_counts``).

    Example::

        optim_wrapper = dict(type='mmseq.AutocastOptimWrapper', dtype='bfloat16',
                             optimizer=dict(type='AdamW', lr=1e-3))
    """

    def __init__(self, dtype: Union[str, torch.dtype] = 'bfloat16',
                 device_type: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(dtype, str):
            if dtype not in _DTYPES:
                raise ValueError(f'dtype must be one of {sorted(_DTYPES)}, got {dtype!r}')
            dtype = _DTYPES[dtype]
        if dtype not in _DTYPES.values():
            raise ValueError(f'dtype must be torch.bfloat16 or torch.float16, got {dtype!r}')
        self.cast_dtype = dtype
        self.device_type = device_type

    @contextmanager
    def optim_context(self, model: nn.Module):
        device_type = self.device_type or _model_device_type(model)
        if self.cast_dtype == torch.float16 and device_type == 'cuda':
            raise ValueError('float16 training on CUDA needs a GradScaler: use '
                             "optim_wrapper=dict(type='AmpOptimWrapper', ...) from mmengine")
        with super().optim_context(model), torch.autocast(device_type=device_type,
                                                           dtype=self.cast_dtype):
            yield
