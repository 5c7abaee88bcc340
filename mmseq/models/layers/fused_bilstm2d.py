"""Fused BiLSTM2D: the same function and state dict as the reference ``BiLSTM2D``, computed with
fewer, larger kernels on CPU.

What it changes against four ``nn.LSTM`` calls:

* one GEMM computes the input projections of all directions (vertical and horizontal, forward
  and reverse) straight from the channels-last map; no transposed copy of the input is made;
* the step loops run in C++ (``csrc/lstm2d_steps.cpp``, prebuilt by ``make setup``, see
  ``lstm2d_ext``): the sequences of all directions are split once between the threads and
  each thread runs its own through every step (they are independent), per step one small
  GEMM for the recurrent product and one vectorised pass that adds the folded biases
  ``b_ih + b_hh``, applies the gates, updates the cell and writes the hidden state straight
  into the fused (B, H, W, 4D) ``cat`` layout the ``fc`` consumes (no permute/cat copy);
* the backward keeps only the activated gates and cell states of the steps, computes the
  recurrent gradients step by step (C++ too) and the input/weight gradients afterwards as
  whole-map GEMMs.

Wherever the compiled loops do not apply (they are not built, ``MMSEQ_LSTM2D_EXT=0``, a dtype
other than float32, CUDA with cuDNN's persistent LSTM kernels, autocast, tracing) the module
runs the reference ``nn.LSTM`` path on the very same parameters; it is always safe to select.
Only ``rnn_type='lstm'`` is fused; ``select_impl`` routes GRU/RNN to the reference.
Measurements: docs/benchmark.md.
"""
import threading
from typing import List, Sequence, Tuple

import torch

from mmseq.registry import MODELS
from . import lstm2d_ext
from .bilstm2d import BiLSTM2D

# A direction: (orientation 'v'|'h', reverse). Order = the reference's cat order:
# vertical forward, vertical reverse, horizontal forward, horizontal reverse.
Direction = Tuple[str, bool]


def _ext_dirs(dirs: Sequence[Direction]) -> Tuple[List[int], List[int]]:
    """Directions as the C++ loops take them: orientations (0 = 'v') and reverse flags."""
    return [0 if o == 'v' else 1 for o, _ in dirs], [int(r) for _, r in dirs]


_scratch = threading.local()


def _gate_scratch(rows: int, cols: int, like: torch.Tensor) -> torch.Tensor:
    """A (rows, cols) view of one growing buffer per thread, dtype and device, for the gate
    projections: only the same layer's step loop reads them, so every layer can reuse the
    buffer. A fresh multi-MB tensor per layer costs a page fault per 4 KiB on first write,
    and RSS the allocator keeps (docs/benchmark.md). The buffer stays, as large as the
    largest projection seen."""
    buffers = getattr(_scratch, 'buffers', None)
    if buffers is None:
        buffers = _scratch.buffers = {}
    key = (like.dtype, like.device)
    buf = buffers.get(key)
    if buf is None or buf.numel() < rows * cols:
        buf = buffers[key] = like.new_empty(rows * cols)
    return buf[:rows * cols].view(rows, cols)


class _FusedLSTM2DFunction(torch.autograd.Function):
    """out[b, y, x, k*D:(k+1)*D] = hidden state of direction k at that token."""

    @staticmethod
    def forward(ctx, x, w_ih, bias, w_hh, dirs, ext):
        # x: (B, H, W, C); w_ih: (ndir*4D, C); bias: (ndir*4D,); w_hh: (ndir, 4D, D).
        B, H, W, C = x.shape
        ndir, four_d, _ = w_hh.shape
        save = any(ctx.needs_input_grad[:4])
        gates5 = _gate_scratch(B * H * W, ndir * four_d, x)
        torch.mm(x.reshape(-1, C), w_ih.t(), out=gates5)
        gates5 = gates5.view(B, H, W, ndir, four_d)
        # the C++ loop adds the bias itself
        out, *saved = ext.forward(gates5, bias, w_hh.transpose(1, 2).contiguous(),
                                  *_ext_dirs(dirs), save)
        if save:
            ctx.save_for_backward(x, w_ih, w_hh, out, *saved)
            ctx.dirs, ctx.ext = dirs, ext
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        x, w_ih, w_hh, out, *saved = ctx.saved_tensors
        dirs = ctx.dirs
        B, H, W, C = x.shape
        ndir, four_d, D = w_hh.shape
        grad_out = grad_out.contiguous()
        dgates = ctx.ext.backward(grad_out, w_hh.contiguous(), saved, *_ext_dirs(dirs))

        dg2d = dgates.view(-1, ndir * four_d)
        grad_x = grad_w_ih = grad_b = grad_w_hh = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.mm(dg2d, w_ih).view(B, H, W, C)
        if ctx.needs_input_grad[1]:
            grad_w_ih = torch.mm(dg2d.t(), x.reshape(-1, C))
        if ctx.needs_input_grad[2]:
            grad_b = dg2d.sum(0)
        if ctx.needs_input_grad[3]:
            # dW_hh[k] = sum_t dgates_t^T h_{t-1} over the whole map at once: direction k's
            # gate gradients are a strided 2-D view (no copy); h_{t-1} is its output shifted
            # one step along its time axis, with zeros at the first step.
            out5 = out.view(B, H, W, ndir, D)
            grad_w_hh = w_hh.new_empty(w_hh.shape)
            for s, (orient, reverse) in enumerate(dirs):
                dim = 1 if orient == 'v' else 2
                h_prev = out5.new_empty(B, H, W, D)
                first, rest = (-1, slice(0, -1)) if reverse else (0, slice(1, None))
                src = slice(1, None) if reverse else slice(0, -1)
                h_prev.select(dim, first).zero_()
                h_prev[(slice(None),) * dim + (rest,)] = \
                    out5[(slice(None),) * dim + (src,)].select(-2, s)
                grad_w_hh[s] = torch.mm(dgates[:, :, :, s].reshape(-1, four_d).t(),
                                        h_prev.view(-1, D))
        return grad_x, grad_w_ih, grad_b, grad_w_hh, None, None


@MODELS.register_module()
class FusedBiLSTM2D(BiLSTM2D):
    """BiLSTM2D with fused input projections, batched recurrences and a lean backward.

    Same constructor, parameters and state-dict keys as :class:`BiLSTM2D` (it keeps the
    ``nn.LSTM`` modules as parameter holders), so public weights load into either and the two
    can be swapped in a config with ``mixer_impl``. Only ``rnn_type='lstm'`` is supported.
    """

    def __init__(self, dim: int, hidden_size: int, rnn_type: str = 'lstm',
                 bidirectional: bool = True, union: str = 'cat', with_fc: bool = True):
        if rnn_type != 'lstm':
            raise ValueError(f"FusedBiLSTM2D only implements rnn_type='lstm', got {rnn_type!r}; "
                             "use mixer_impl='reference' (or 'auto') for GRU/RNN")
        super().__init__(dim, hidden_size, rnn_type, bidirectional, union, with_fc)
        # Resolve the step loops when the model is built, not in the first forward: that is
        # before the data-loader workers and the first collective of a distributed run.
        lstm2d_ext.load()
        self.bidirectional = bidirectional
        dirs, self._param_names = [], []
        for orient, rnn in (('v', self.rnn_v), ('h', self.rnn_h)):
            if rnn is None:
                continue
            prefix = 'rnn_v' if orient == 'v' else 'rnn_h'
            for reverse in ((False, True) if bidirectional else (False,)):
                dirs.append((orient, reverse))
                self._param_names.append((prefix, '_reverse' if reverse else ''))
        self.dirs = tuple(dirs)

    def _fused_params(self):
        """All directions' weights concatenated (nn.LSTM's gate order) and the two biases
        summed: (ndir*4D, C), (ndir*4D,), (ndir, 4D, D)."""
        w_ih, bias, w_hh = [], [], []
        for prefix, suffix in self._param_names:
            rnn = getattr(self, prefix)
            w_ih.append(getattr(rnn, 'weight_ih_l0' + suffix))
            w_hh.append(getattr(rnn, 'weight_hh_l0' + suffix))
            bias.append(getattr(rnn, 'bias_ih_l0' + suffix) + getattr(rnn, 'bias_hh_l0' + suffix))
        # cat/stack only: their backward is views (an index's would be a scatter).
        return torch.cat(w_ih), torch.cat(bias), torch.stack(w_hh)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[-1] != self.dim:
            raise ValueError(f'Expected a (B, H, W, {self.dim}) input, got {tuple(x.shape)}')
        ext = lstm2d_ext.load()
        if (ext is None or x.device.type != 'cpu' or x.dtype != torch.float32
                or torch.is_autocast_enabled(x.device.type)
                or torch.jit.is_tracing() or torch.jit.is_scripting()):
            # nn.LSTM (cuDNN on CUDA; autocast's dtype policy; a graph exporters understand)
            # on the same parameters
            return super().forward(x)
        w_ih, bias, w_hh = self._fused_params()
        out = _FusedLSTM2DFunction.apply(x.contiguous(), w_ih, bias, w_hh, self.dirs, ext)
        if self.union == 'add':
            half = out.shape[-1] // 2
            out = out[..., :half] + out[..., half:]
        return self.fc(out) if self.fc is not None else out
