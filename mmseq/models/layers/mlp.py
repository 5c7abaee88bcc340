"""The channel MLP of a Sequencer block."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class _RecomputedGelu:
    """Stands in, among autograd's saved tensors, for the activation's output: fc2 keeps it
    for its weight gradient, and it is as large as the activation's input, which the
    activation keeps anyway. Unpacking recomputes it from that input."""

    def __init__(self, act: nn.GELU, act_in: torch.Tensor, act_out: torch.Tensor):
        self.approximate, self.act_in = act.approximate, act_in
        self.ptr, self.numel = act_out.data_ptr(), act_out.numel()
        self.offset = act_out.storage_offset()

    def pack(self, t: torch.Tensor):
        if t.data_ptr() == self.ptr and t.numel() == self.numel:  # a view of the output
            return t.size(), t.stride(), t.storage_offset() - self.offset
        return t

    def unpack(self, saved):
        if isinstance(saved, torch.Tensor):
            return saved
        size, stride, offset = saved
        # functional: the module's forward hooks saw its output once, in the forward
        return F.gelu(self.act_in, approximate=self.approximate).as_strided(size, stride, offset)


class Mlp(nn.Module):
    """Linear -> GELU -> Linear on channels-last tokens.

    Args:
        dim: input/output channels.
        hidden_dim: hidden channels.
        drop: dropout after the activation and after fc2.
        recompute_act: when recording gradients, let autograd keep the GELU's input only and
            recompute its output in the backward (for fc2's weight gradient) instead of
            keeping both: one hidden activation per token less, the block's largest saved
            tensor, for one GELU more per backward. The modules run as usual (their hooks
            fire) and values and gradients are unchanged. Turn it off inside activation
            checkpointing, which must see every saved tensor itself.
    """

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0., recompute_act: bool = True):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop) if drop > 0 else nn.Identity()
        self.recompute_act = recompute_act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)
        g = self.drop(self.act(h))
        if not (self.recompute_act and torch.is_grad_enabled() and g.requires_grad
                and isinstance(self.drop, nn.Identity) and not torch.jit.is_tracing()
                and not torch.compiler.is_compiling()):
            return self.drop(self.fc2(g))
        saved = _RecomputedGelu(self.act, h, g)
        with torch.autograd.graph.saved_tensors_hooks(saved.pack, saved.unpack):
            return self.fc2(g)
