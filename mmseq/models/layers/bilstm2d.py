"""BiLSTM2D token mixer (paper Sec. 3.2, Algorithm 1): a vertical and a horizontal
(bi)directional RNN over a channels-last (B, H, W, C) map, merged and fused by a linear layer.

``BiLSTM2D`` is the reference built on ``nn.LSTM``/``nn.GRU``/``nn.RNN``; its state-dict keys
(``rnn_v.*``, ``rnn_h.*``, ``fc.*``) are the ones of the public weights, and the fast
implementation (``fused_bilstm2d.py``) loads the same keys.
"""
from typing import Dict

import torch
import torch.nn as nn

from mmseq.registry import MODELS

RNN_TYPES = {'lstm': nn.LSTM, 'gru': nn.GRU, 'rnn': nn.RNN}
UNIONS = ('cat', 'add', 'vertical', 'horizontal')


_LOW_PRECISION_RNN_OK: Dict[torch.dtype, bool] = {}


def cpu_runs_low_precision_rnn(dtype: torch.dtype) -> bool:
    """Whether ``nn.LSTM`` runs (forward and backward) on a ``dtype`` input on this CPU;
    probed once per dtype with a tiny layer."""
    if dtype not in _LOW_PRECISION_RNN_OK:
        try:
            with torch.inference_mode(False), torch.enable_grad(), \
                    torch.autocast('cpu', dtype=dtype):
                x = torch.zeros(1, 2, 2, dtype=dtype, requires_grad=True)
                nn.LSTM(2, 2, batch_first=True)(x)[0].float().sum().backward()
            _LOW_PRECISION_RNN_OK[dtype] = True
        except RuntimeError:
            _LOW_PRECISION_RNN_OK[dtype] = False
    return _LOW_PRECISION_RNN_OK[dtype]


def run_rnn(rnn: nn.Module, seq: torch.Tensor) -> torch.Tensor:
    """``rnn(seq)[0]``, also under CPU autocast, where the RNN (on autocast's lower-precision
    list) runs in autocast's dtype. The input is cast first: autocast's own cast of a float32
    input makes oneDNN fail on CPUs without AVX-512 ("could not create a primitive
    descriptor", torch 2.14), a low-precision input does not. Where the CPU cannot run the
    RNN in that dtype at all, it runs in float32.

    Under CUDA autocast cuDNN runs the RNN in float16 whatever autocast's dtype (it has no
    bfloat16 RNN; autocast casts its inputs and weights to half). That is autocast's fp16 as
    asked for (``AmpOptimWrapper`` scales the loss against underflow), but not bfloat16, whose
    point is float32's exponent range without loss scaling: under bfloat16 the RNN runs in
    float32 (TF32 where cuDNN allows it), the rest of the block in bfloat16."""
    if seq.device.type == 'cuda' and torch.is_autocast_enabled('cuda'):
        if torch.get_autocast_dtype('cuda') != torch.float16:
            with torch.autocast('cuda', enabled=False):
                return rnn(seq.float())[0]
        return rnn(seq)[0]
    if seq.device.type == 'cpu' and torch.is_autocast_enabled('cpu'):
        dtype = torch.get_autocast_dtype('cpu')
        if dtype != torch.float32:
            if cpu_runs_low_precision_rnn(dtype):
                return rnn(seq.to(dtype))[0]
            with torch.autocast('cpu', enabled=False):
                return rnn(seq.float())[0]
    return rnn(seq)[0]


def check_mixer_args(dim: int, hidden_size: int, rnn_type: str, bidirectional: bool,
                     union: str, with_fc: bool) -> int:
    """Validate a BiLSTM2D configuration; return the width of the merged RNN output."""
    if rnn_type not in RNN_TYPES:
        raise ValueError(f'rnn_type must be one of {sorted(RNN_TYPES)}, got {rnn_type!r}')
    if union not in UNIONS:
        raise ValueError(f'union must be one of {list(UNIONS)}, got {union!r}')
    if not (isinstance(hidden_size, int) and hidden_size > 0):
        raise ValueError(f'hidden_size must be a positive int, got {hidden_size!r}')
    per_direction = 2 * hidden_size if bidirectional else hidden_size
    merged = 2 * per_direction if union == 'cat' else per_direction
    if not with_fc and merged != dim:
        raise ValueError(
            f'with_fc=False needs the merged RNN output ({merged} channels for union={union!r}, '
            f'bidirectional={bidirectional}, hidden_size={hidden_size}) to equal dim={dim}; '
            'change hidden_size (hidden_ratio) or enable with_fc')
    return merged


@MODELS.register_module()
class BiLSTM2D(nn.Module):
    """Reference BiLSTM2D on ``torch.nn`` recurrent layers.

    Args:
        dim (int): Input/output channels C.
        hidden_size (int): Hidden size D of each direction (the paper uses D = C / 4).
        rnn_type (str): 'lstm' (paper), 'gru' or 'rnn' (tanh), Table 2e. Defaults to 'lstm'.
        bidirectional (bool): BiLSTMs (paper) or forward-only LSTMs, Table 2b.
            Defaults to True.
        union (str): 'cat' (paper), 'add' (Table 12a), or only one direction of scan:
            'vertical' / 'horizontal' (Table 2a). Defaults to 'cat'.
        with_fc (bool): The channel-fusion linear layer (Table 2a, C3). Defaults to True.

    Example:
        >>> import torch
        >>> from mmseq.models.layers import BiLSTM2D
        >>> mixer = BiLSTM2D(dim=192, hidden_size=48)
        >>> mixer(torch.rand(2, 32, 32, 192)).shape  # channels-last (B, H, W, C)
        torch.Size([2, 32, 32, 192])
    """

    def __init__(self, dim: int, hidden_size: int, rnn_type: str = 'lstm',
                 bidirectional: bool = True, union: str = 'cat', with_fc: bool = True):
        super().__init__()
        merged = check_mixer_args(dim, hidden_size, rnn_type, bidirectional, union, with_fc)
        self.dim = dim
        self.hidden_size = hidden_size
        self.union = union
        rnn_cls = RNN_TYPES[rnn_type]

        def make_rnn():
            return rnn_cls(dim, hidden_size, num_layers=1, bias=True, batch_first=True,
                           bidirectional=bidirectional)

        self.rnn_v = make_rnn() if union != 'horizontal' else None
        self.rnn_h = make_rnn() if union != 'vertical' else None
        self.fc = nn.Linear(merged, dim) if with_fc else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        v = h = None
        if self.rnn_v is not None:
            # Columns are sequences of length H.
            v = run_rnn(self.rnn_v, x.transpose(1, 2).reshape(B * W, H, C))
            v = v.reshape(B, W, H, -1).transpose(1, 2)
        if self.rnn_h is not None:
            # Rows are sequences of length W.
            h = run_rnn(self.rnn_h, x.reshape(B * H, W, C)).reshape(B, H, W, -1)
        if v is None:
            out = h
        elif h is None:
            out = v
        elif self.union == 'cat':
            out = torch.cat([v, h], dim=-1)
        else:
            out = v + h
        return self.fc(out) if self.fc is not None else out
