"""When inference may overwrite an intermediate tensor instead of allocating a new one."""
import torch
import torch.nn as nn
from torch.nn.modules import module as _module


def may_overwrite(*modules: nn.Module) -> bool:
    """True when autograd is off and no forward hook can hold an output of ``modules`` or of
    their submodules (a hook keeps a reference; an in-place update would change what it saw).
    Then an output nobody else references can take the next result in place."""
    if torch.is_grad_enabled() or _module._global_forward_hooks:
        return False
    return not any(m._forward_hooks for module in modules for m in module.modules())
