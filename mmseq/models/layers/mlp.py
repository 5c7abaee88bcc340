import torch
import torch.nn as nn

from .inplace import may_overwrite


class Mlp(nn.Module):
    """Channel MLP of a Sequencer block: Linear -> GELU -> Linear on channels-last tokens."""

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop) if drop > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc1(x)
        if may_overwrite(self.fc1, self.act):  # only GELU's backward would need its input
            x = torch.ops.aten.gelu_(x, approximate=self.act.approximate)
        else:
            x = self.act(x)
        return self.drop(self.fc2(self.drop(x)))
