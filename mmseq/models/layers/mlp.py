import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules import module as _module

from .inplace import may_overwrite


class _LeanMlpFunction(torch.autograd.Function):
    """fc2(GELU(fc1(x))) saving x and fc1's output only: the GELU output (as large as fc1's
    output) is recomputed in the backward instead of being kept for fc2's weight gradient."""

    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2, approximate):
        h = F.linear(x, w1, b1)
        y = F.linear(F.gelu(h, approximate=approximate), w2, b2)
        ctx.save_for_backward(x, h, w1, w2)
        ctx.approximate = approximate
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dy):
        x, h, w1, w2 = ctx.saved_tensors
        need_x, need_w1, need_b1, need_w2, need_b2, _ = ctx.needs_input_grad
        dy = dy.reshape(-1, dy.shape[-1])
        h = h.reshape(-1, h.shape[-1])
        dx = dw1 = db1 = dw2 = db2 = None
        if need_w2:
            dw2 = dy.t().mm(F.gelu(h, approximate=ctx.approximate))
        if need_b2:
            db2 = dy.sum(0)
        if need_x or need_w1 or need_b1:
            dh = torch.ops.aten.gelu_backward(dy.mm(w2), h, approximate=ctx.approximate)
            if need_w1:
                dw1 = dh.t().mm(x.reshape(-1, x.shape[-1]))
            if need_b1:
                db1 = dh.sum(0)
            if need_x:
                dx = dh.mm(w1).view(x.shape)
        return dx, dw1, db1, dw2, db2, None


class Mlp(nn.Module):
    """Channel MLP of a Sequencer block: Linear -> GELU -> Linear on channels-last tokens.

    Training without dropout runs one autograd function that keeps 3 instead of 6 hidden
    activations per token (the block's largest saved tensors); the values and gradients
    are those of the three modules (checked in the tests). Forward hooks on the submodules,
    dropout or autocast select the plain module calls.
    """

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop) if drop > 0 else nn.Identity()

    def _lean_training(self, x: torch.Tensor) -> bool:
        return (torch.is_grad_enabled() and isinstance(self.drop, nn.Identity)
                and not torch.is_autocast_enabled(x.device.type)
                and not _module._global_forward_hooks and not _module._global_forward_pre_hooks
                and not any(m._forward_hooks or m._forward_pre_hooks
                            for m in (self.fc1, self.act, self.fc2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._lean_training(x):
            return _LeanMlpFunction.apply(x, self.fc1.weight, self.fc1.bias, self.fc2.weight,
                                          self.fc2.bias, self.act.approximate)
        x = self.fc1(x)
        if may_overwrite(self.fc1, self.act):  # only GELU's backward would need its input
            x = torch.ops.aten.gelu_(x, approximate=self.act.approximate)
        else:
            x = self.act(x)
        return self.drop(self.fc2(self.drop(x)))
