"""The Vanilla Sequencer's token mixer (paper Sec. 3.2, Table 5)."""
import torch
import torch.nn as nn

from mmseq.registry import MODELS


@MODELS.register_module()
class BiLSTM1D(nn.Module):
    """One BiLSTM over the H*W tokens of a (B, H, W, C) map in raster order (row by row).

    Args:
        dim: input/output channels C.
        hidden_size: hidden size of each direction.
        with_fc: a linear layer after the BiLSTM; without it 2 * hidden_size must equal dim.
    """

    def __init__(self, dim: int, hidden_size: int, with_fc: bool = False):
        super().__init__()
        if not with_fc and 2 * hidden_size != dim:
            raise ValueError(f'with_fc=False needs 2 * hidden_size == dim, got hidden_size='
                             f'{hidden_size}, dim={dim}')
        self.rnn = nn.LSTM(dim, hidden_size, num_layers=1, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(2 * hidden_size, dim) if with_fc else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        out = self.rnn(x.reshape(B, H * W, C))[0].reshape(B, H, W, -1)
        return self.fc(out) if self.fc is not None else out
