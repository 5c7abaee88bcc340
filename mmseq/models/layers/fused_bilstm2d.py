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

Without the compiled loops (no compiler, ``MMSEQ_LSTM2D_EXT=0``, or float64) the same steps
run as PyTorch ops; that loop wins for training but not for inference, where oneDNN's
``nn.LSTM`` is faster, so inference then runs ``nn.LSTM`` on the very same parameters.
On CUDA (cuDNN's persistent LSTM kernels), under autocast and while tracing, the module runs
``nn.LSTM`` too; it is always safe to select. Only ``rnn_type='lstm'`` is fused;
``select_impl`` routes GRU/RNN to the reference. Measurements: docs/benchmark.md.
"""
import contextlib
import threading
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from . import lstm2d_ext
from .bilstm2d import BiLSTM2D

# A direction: (orientation 'v'|'h', reverse). Order = the reference's cat order:
# vertical forward, vertical reverse, horizontal forward, horizontal reverse.
Direction = Tuple[str, bool]


def _step_view(t5: torch.Tensor, orient: str, index: int, slot: int) -> torch.Tensor:
    """(B, L, F) view of a (B, H, W, ndir, F) tensor at one time step of one direction."""
    return t5[:, index, :, slot] if orient == 'v' else t5[:, :, index, slot]


def _groups(dirs: Sequence[Direction], H: int, W: int) -> List[Tuple[int, List[int]]]:
    """Directions that can share one batched matmul per step: same length and batch size."""
    if H == W:
        return [(H, list(range(len(dirs))))]
    groups = []
    for orient, length in (('v', H), ('h', W)):
        slots = [k for k, (o, _) in enumerate(dirs) if o == orient]
        if slots:
            groups.append((length, slots))
    return groups


def _time_index(length: int, t: int, reverse: bool) -> int:
    return length - 1 - t if reverse else t


def _ext_dirs(dirs: Sequence[Direction]) -> Tuple[List[int], List[int]]:
    """Directions as the C++ loops take them: orientations (0 = 'v') and reverse flags."""
    return [0 if o == 'v' else 1 for o, _ in dirs], [int(r) for _, r in dirs]


def _python_steps(gates5, w_hh, dirs, save):
    """The forward step loop in PyTorch ops, for when the C++ extension is unavailable.

    Returns the (B, H, W, ndir*D) output and, when ``save``, per group the activated gates
    (L, k, rows, 4D) and cell states (L, k, rows, D) of every step (as the C++ loop does).
    """
    B, H, W, ndir, four_d = gates5.shape
    D = four_d // 4
    out = gates5.new_empty(B, H, W, ndir * D)
    out5 = out.view(B, H, W, ndir, D)
    saved = []
    for length, slots in _groups(dirs, H, W):
        k, rows = len(slots), B * H * W // length
        w_hh_t = w_hh[slots].transpose(1, 2)
        # Time-major hidden states: step t writes hs[t], the next step's matmul operand.
        hs = gates5.new_empty(length, k, rows, D)
        gates = gates5.new_empty(length if save else 1, k, rows, four_d)
        cells = gates5.new_empty(length if save else 1, k, rows, D)
        for t in range(length):
            g = gates[t if save else 0]
            torch.stack([_step_view(gates5, dirs[s][0], _time_index(length, t, dirs[s][1]), s)
                         for s in slots], out=g.view(k, B, -1, four_d))
            if t > 0:
                g.baddbmm_(hs[t - 1], w_hh_t)
            # nn.LSTM's gate order: input, forget (sigmoid), cell candidate (tanh), output.
            g[..., :2 * D].sigmoid_()
            g[..., 2 * D:3 * D].tanh_()
            g[..., 3 * D:].sigmoid_()
            i_g, f_g, c_g, o_g = g.split(D, dim=-1)
            c = cells[t if save else 0]
            if t == 0:
                torch.mul(i_g, c_g, out=c)
            elif save:
                torch.addcmul(f_g * cells[t - 1], i_g, c_g, out=c)
            else:
                c.mul_(f_g).addcmul_(i_g, c_g)
            torch.mul(o_g, torch.tanh(c), out=hs[t])
        for n, s in enumerate(slots):
            orient, reverse = dirs[s]
            src = hs[:, n].view(length, B, -1, D)
            if reverse:
                src = src.flip(0)
            src = src.permute(1, 0, 2, 3) if orient == 'v' else src.permute(1, 2, 0, 3)
            out5[:, :, :, s].copy_(src)
        if save:
            saved += [gates, cells]
    return out, saved


def _python_gate_grads(grad_out, w_hh, saved, dirs):
    """Gradients of the gate pre-activations, (B, H, W, ndir, 4D), in PyTorch ops."""
    B, H, W, _ = grad_out.shape
    ndir, four_d, D = w_hh.shape
    grad_out5 = grad_out.view(B, H, W, ndir, D)
    dgates = grad_out.new_empty(B, H, W, ndir, four_d)
    for gi, (length, slots) in enumerate(_groups(dirs, H, W)):
        k = len(slots)
        gates, cells = saved[2 * gi], saved[2 * gi + 1]
        w = w_hh[slots]
        dh_rec = dc_next = None
        for t in reversed(range(length)):
            idx = [_time_index(length, t, dirs[s][1]) for s in slots]
            g, c = gates[t], cells[t]
            i_g, f_g, c_g, o_g = g.split(D, dim=-1)
            dh = torch.stack([_step_view(grad_out5, dirs[s][0], i, s)
                              for s, i in zip(slots, idx)]).view(k, -1, D)
            if dh_rec is not None:
                dh = dh + dh_rec
            tanh_c = torch.tanh(c)
            dc = dh * o_g * (1 - tanh_c * tanh_c)
            if dc_next is not None:
                dc = dc + dc_next
            dg = torch.empty_like(g)
            di, df, dcg, do = dg.split(D, dim=-1)
            torch.mul(dc * c_g, i_g * (1 - i_g), out=di)
            if t > 0:
                torch.mul(dc * cells[t - 1], f_g * (1 - f_g), out=df)
            else:
                df.zero_()
            torch.mul(dc * i_g, 1 - c_g * c_g, out=dcg)
            torch.mul(dh * tanh_c, o_g * (1 - o_g), out=do)
            dc_next = dc * f_g
            dh_rec = torch.bmm(dg, w)
            dgv = dg.view(k, B, -1, four_d)
            for n, (s, i) in enumerate(zip(slots, idx)):
                _step_view(dgates, dirs[s][0], i, s).copy_(dgv[n])
    return dgates


_workspace = threading.local()


@contextlib.contextmanager
def gate_workspace():
    """Within this block, fused BiLSTM2D layers of one thread write their gate projections
    into one reused buffer per shape instead of a fresh allocation per layer (on CPU a fresh
    multi-MB tensor costs a page fault per 4 KiB when first written). The backbones wrap
    their forward in it; the buffers are freed when the outermost block exits."""
    outermost = getattr(_workspace, 'buffers', None) is None
    if outermost:
        _workspace.buffers = {}
    try:
        yield
    finally:
        if outermost:
            _workspace.buffers = None


def _gate_buffer(shape: Tuple[int, int], like: torch.Tensor) -> torch.Tensor:
    buffers = getattr(_workspace, 'buffers', None)
    if buffers is None:
        return like.new_empty(shape)
    key = (shape, like.dtype, like.device)
    if key not in buffers:
        buffers[key] = like.new_empty(shape)
    return buffers[key]


class _FusedLSTM2DFunction(torch.autograd.Function):
    """out[b, y, x, k*D:(k+1)*D] = hidden state of direction k at that token."""

    @staticmethod
    def forward(ctx, x, w_ih, bias, w_hh, dirs):
        # x: (B, H, W, C); w_ih: (ndir*4D, C); bias: (ndir*4D,); w_hh: (ndir, 4D, D).
        B, H, W, C = x.shape
        ndir, four_d, _ = w_hh.shape
        save = any(ctx.needs_input_grad[:4])
        ext = lstm2d_ext.load()
        if ext is not None and x.dtype == torch.float32:  # the C++ loop adds the bias itself
            gates5 = _gate_buffer((B * H * W, ndir * four_d), x)
            torch.mm(x.reshape(-1, C), w_ih.t(), out=gates5)
            gates5 = gates5.view(B, H, W, ndir, four_d)
            out, *saved = ext.forward(gates5, bias, w_hh.transpose(1, 2).contiguous(),
                                      *_ext_dirs(dirs), save)
        else:
            gates5 = torch.addmm(bias, x.reshape(-1, C), w_ih.t()).view(B, H, W, ndir, four_d)
            ext = None
            out, saved = _python_steps(gates5, w_hh, dirs, save)
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
        if ctx.ext is not None:
            dgates = ctx.ext.backward(grad_out, w_hh.contiguous(), saved, *_ext_dirs(dirs))
        else:
            dgates = _python_gate_grads(grad_out, w_hh, saved, dirs)

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
        return grad_x, grad_w_ih, grad_b, grad_w_hh, None


class FusedBiLSTM2D(BiLSTM2D):
    """BiLSTM2D with fused input projections, batched recurrences and a lean backward.

    Same constructor, parameters and state-dict keys as :class:`BiLSTM2D` (it keeps the
    ``nn.LSTM`` modules as parameter holders), so public weights load into either and the two
    can be swapped in a config with ``mixer_impl``. Only ``rnn_type='lstm'`` is supported.
    """

    # Inference (autograd off): None = fused iff the C++ step loops are available (else
    # nn.LSTM's oneDNN kernel, faster than the PyTorch step loop); True/False force it.
    fused_inference: Optional[bool] = None

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
        summed: (ndir*4D, C), (ndir*4D,), (ndir, 4D, D). Without autograd
        the result is cached until a parameter changes (in place or replaced)."""
        if torch.is_grad_enabled():
            return self._build_fused_params()
        params = [p for _, p in self.rnn_params()]
        key = tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in params)
        cached = self.__dict__.get('_fused_cache')
        if cached is None or cached[0] != key:
            cached = (key, self._build_fused_params())
            self.__dict__['_fused_cache'] = cached
        return cached[1]

    def rnn_params(self):
        """(name, parameter) of the LSTM weights, in direction order."""
        for prefix, suffix in self._param_names:
            rnn = getattr(self, prefix)
            for kind in ('weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0'):
                yield f'{prefix}.{kind}{suffix}', getattr(rnn, kind + suffix)

    def _build_fused_params(self):
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
        if (x.device.type != 'cpu' or torch.is_autocast_enabled(x.device.type)
                or torch.jit.is_tracing() or torch.jit.is_scripting()):
            # cuDNN's LSTM (or autocast's dtype policy, or a graph exporters understand) on
            # the same parameters.
            return super().forward(x)
        records_grad = torch.is_grad_enabled() and (
            x.requires_grad or any(p.requires_grad for p in self.parameters()))
        if not records_grad:
            fused = self.fused_inference
            if fused is None:
                fused = x.dtype == torch.float32 and lstm2d_ext.load() is not None
            if not fused:
                return super().forward(x)
        w_ih, bias, w_hh = self._fused_params()
        out = _FusedLSTM2DFunction.apply(x.contiguous(), w_ih, bias, w_hh, self.dirs)
        if self.union == 'add':
            half = out.shape[-1] // 2
            out = out[..., :half] + out[..., half:]
        return self.fc(out) if self.fc is not None else out
