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

Under ``torch.compile`` the projection and the step loops are one registered operator,
``torch.ops.mmseq.lstm2d_steps`` (and ``lstm2d_steps_backward`` for the gate gradients), with
a fake kernel that gives the compiler the output shapes and an autograd formula, so the
compiler traces the whole model as one graph and compiles the input/weight gradient GEMMs of
the backward itself. Eager calls keep a plain ``torch.autograd.Function`` around the same
kernels (the operator's dispatch costs a little per call; docs/benchmark.md).

Eager calls where the C++ loops do not apply (they are not built, ``MMSEQ_LSTM2D_EXT=0``, a
dtype other than float32, a device other than the CPU, autocast) and tracing for export run
the reference ``nn.LSTM`` path on the very same parameters (cuDNN on CUDA); it is always safe
to select. Under ``torch.compile`` the operators run on every device and dtype: where the C++
loops do not apply their kernels are the same loops in torch operations
(``lstm2d_tensor_loops``), so the compiled model is one graph on CUDA too; under autocast the
recurrence then runs in float32.
Only ``rnn_type='lstm'`` is fused; ``select_impl`` routes GRU/RNN to the reference.
Measurements: docs/benchmark.md.
"""
import threading
from typing import List, Optional, Sequence, Tuple

import torch

from mmseq.registry import MODELS
from . import lstm2d_ext, lstm2d_tensor_loops
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


def _loops_for(t: torch.Tensor) -> object:
    """The step loops for ``t``: the C++ ones for float32 CPU tensors where they are built,
    else the same loops in torch operations (any device and floating dtype)."""
    if t.device.type == 'cpu' and t.dtype == torch.float32:
        ext = lstm2d_ext.load()
        if ext is not None:
            return ext
    return lstm2d_tensor_loops


def _steps_forward(ext, x: torch.Tensor, w_ih: torch.Tensor, bias: torch.Tensor,
                   w_hh: torch.Tensor, orient: List[int], reverse: List[int],
                   save: bool) -> List[torch.Tensor]:
    """The projection into the scratch buffer and the C++ forward loops: [out, *saved]."""
    # x: (B, H, W, C) contiguous; w_ih: (ndir*4D, C); bias: (ndir*4D,); w_hh: (ndir, 4D, D).
    B, H, W, C = x.shape
    ndir, four_d, _ = w_hh.shape
    gates5 = _gate_scratch(B * H * W, ndir * four_d, x)
    torch.mm(x.reshape(-1, C), w_ih.t(), out=gates5)
    gates5 = gates5.view(B, H, W, ndir, four_d)
    # the C++ loop adds the bias itself
    return ext.forward(gates5, bias.contiguous(), w_hh.transpose(1, 2).contiguous(),
                       orient, reverse, save)


def _saved_shapes(B: int, H: int, W: int, D: int,
                  orient: List[int]) -> List[Tuple[int, ...]]:
    """Shapes of what the C++ forward saves: per group of directions that share a sequence
    length (all of them when H == W, else one group per orientation present) the activated
    gates (L, k, rows, 4D) and the cell states (L, k, rows, D)."""
    if H == W:
        groups = [(H, len(orient), B * W)]
    else:
        groups = [(H if o == 0 else W, orient.count(o), B * W if o == 0 else B * H)
                  for o in (0, 1) if o in orient]
    shapes = []
    for length, k, rows in groups:
        shapes += [(length, k, rows, 4 * D), (length, k, rows, D)]
    return shapes


def _input_and_weight_grads(dgates: torch.Tensor, x: torch.Tensor, w_ih: torch.Tensor,
                            w_hh: torch.Tensor, out: torch.Tensor, orient: List[int],
                            reverse: List[int], needs: Sequence[bool]
                            ) -> Tuple[Optional[torch.Tensor], ...]:
    """Gradients of x, w_ih, the folded bias and w_hh from the gate gradients, as whole-map
    GEMMs (None where ``needs`` says no)."""
    B, H, W, C = x.shape
    ndir, four_d, D = w_hh.shape
    dg2d = dgates.view(-1, ndir * four_d)
    grad_x = grad_w_ih = grad_b = grad_w_hh = None
    if needs[0]:
        grad_x = torch.mm(dg2d, w_ih).view(B, H, W, C)
    if needs[1]:
        grad_w_ih = torch.mm(dg2d.t(), x.reshape(-1, C))
    if needs[2]:
        grad_b = dg2d.sum(0)
    if needs[3]:
        # dW_hh[k] = sum_t dgates_t^T h_{t-1} over the whole map at once: direction k's
        # gate gradients are a strided 2-D view (no copy); h_{t-1} is its output shifted
        # one step along its time axis, with zeros at the first step.
        out5 = out.view(B, H, W, ndir, D)
        grad_w_hh = w_hh.new_empty(w_hh.shape)
        for s, (orient_s, reverse_s) in enumerate(zip(orient, reverse)):
            dim = 1 if orient_s == 0 else 2
            h_prev = out5.new_empty(B, H, W, D)
            first, rest = (-1, slice(0, -1)) if reverse_s else (0, slice(1, None))
            src = slice(1, None) if reverse_s else slice(0, -1)
            h_prev.select(dim, first).zero_()
            h_prev[(slice(None),) * dim + (rest,)] = \
                out5[(slice(None),) * dim + (src,)].select(-2, s)
            grad_w_hh[s] = torch.mm(dgates[:, :, :, s].reshape(-1, four_d).t(),
                                    h_prev.view(-1, D))
    return grad_x, grad_w_ih, grad_b, grad_w_hh


class _FusedLSTM2DFunction(torch.autograd.Function):
    """out[b, y, x, k*D:(k+1)*D] = hidden state of direction k at that token (eager calls)."""

    @staticmethod
    def forward(ctx, x, w_ih, bias, w_hh, dirs, ext):
        orient, reverse = _ext_dirs(dirs)
        save = any(ctx.needs_input_grad[:4])
        out, *saved = _steps_forward(ext, x, w_ih, bias, w_hh, orient, reverse, save)
        if save:
            ctx.save_for_backward(x, w_ih, w_hh, out, *saved)
            ctx.dirs, ctx.ext = (orient, reverse), ext
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        x, w_ih, w_hh, out, *saved = ctx.saved_tensors
        orient, reverse = ctx.dirs
        dgates = ctx.ext.backward(grad_out.contiguous(), w_hh.contiguous(), saved, orient,
                                  reverse)
        grads = _input_and_weight_grads(dgates, x, w_ih, w_hh, out, orient, reverse,
                                        ctx.needs_input_grad[:4])
        return (*grads, None, None)


# ----------------------------------------------------------------- the registered operators
# The same kernels as registered operators, for torch.compile: the compiler sees an opaque
# call with known output shapes (the fake kernels) and a backward made of another opaque
# call (the C++ gate gradients) and plain GEMMs, which it compiles. The scratch buffer is
# used inside the real kernel only; the compiler never sees it.
@torch.library.custom_op('mmseq::lstm2d_steps', mutates_args=())
def lstm2d_steps(x: torch.Tensor, w_ih: torch.Tensor, bias: torch.Tensor, w_hh: torch.Tensor,
                 orient: List[int], reverse: List[int],
                 save: bool) -> Tuple[torch.Tensor, List[torch.Tensor]]:
    """Hidden states (B, H, W, ndir*D) of all directions of a channels-last map and, when
    ``save``, what the backward needs (see ``_saved_shapes``). ``orient``: 0 for a vertical
    direction, 1 for a horizontal one; ``reverse``: 0/1 per direction. Any device and
    floating dtype (x, w_ih, bias and w_hh share both)."""
    out, *saved = _steps_forward(_loops_for(x), x.contiguous(), w_ih, bias, w_hh, orient,
                                 reverse, save)
    return out, saved


@lstm2d_steps.register_fake
def _lstm2d_steps_fake(x, w_ih, bias, w_hh, orient, reverse, save):
    B, H, W, _ = x.shape
    ndir, _, D = w_hh.shape
    torch._check(len(orient) == ndir and len(reverse) == ndir,
                 lambda: 'one orientation and one reverse flag per direction')
    saved = [x.new_empty(shape) for shape in _saved_shapes(B, H, W, D, orient)] if save else []
    return x.new_empty(B, H, W, ndir * D), saved


@torch.library.custom_op('mmseq::lstm2d_steps_backward', mutates_args=())
def lstm2d_steps_backward(grad_out: torch.Tensor, w_hh: torch.Tensor,
                          saved: List[torch.Tensor], orient: List[int],
                          reverse: List[int]) -> torch.Tensor:
    """Gradients (B, H, W, ndir, 4D) of the gate pre-activations from the output gradient
    and what ``lstm2d_steps`` saved."""
    return _loops_for(grad_out).backward(grad_out.contiguous(), w_hh.contiguous(), list(saved),
                                         orient, reverse)


@lstm2d_steps_backward.register_fake
def _lstm2d_steps_backward_fake(grad_out, w_hh, saved, orient, reverse):
    B, H, W, _ = grad_out.shape
    ndir, four_d, _ = w_hh.shape
    return grad_out.new_empty(B, H, W, ndir, four_d)


def _setup_context(ctx, inputs, output):
    x, w_ih, _, w_hh, orient, reverse, save = inputs
    out, saved = output
    if save:
        ctx.save_for_backward(x, w_ih, w_hh, out, *saved)
    # the saved tensors are outputs only to reach the backward: no gradient flows into them,
    # and none is zero-filled for them (they are as large as the gates)
    ctx.mark_non_differentiable(*saved)
    ctx.set_materialize_grads(False)
    ctx.save, ctx.dirs = save, (orient, reverse)


def _backward(ctx, grad_out, _grad_saved):
    if not ctx.save:
        raise RuntimeError('mmseq::lstm2d_steps was called with save=False: nothing to '
                           'differentiate with')
    if grad_out is None:  # the hidden states were not used
        return (None,) * 7
    x, w_ih, w_hh, out, *saved = ctx.saved_tensors
    orient, reverse = ctx.dirs
    dgates = lstm2d_steps_backward(grad_out, w_hh, saved, orient, reverse)
    grads = _input_and_weight_grads(dgates, x, w_ih, w_hh, out, orient, reverse,
                                    ctx.needs_input_grad[:4])
    return (*grads, None, None, None)


lstm2d_steps.register_autograd(_backward, setup_context=_setup_context)


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
        self._orient, self._reverse = _ext_dirs(self.dirs)
        self._bind_rnn_params()

    def _bind_rnn_params(self) -> None:
        # The nn.LSTMs' own parameter dicts (live: a parameter set or loaded later is there
        # too), read by _fused_params: Dynamo graph-breaks on touching an nn.LSTM module,
        # not on its parameters reached this way.
        self.__dict__['_rnn_params'] = {
            name: self._modules[name]._parameters for name in ('rnn_v', 'rnn_h')
            if self._modules.get(name) is not None}

    def __setattr__(self, name, value):
        super().__setattr__(name, value)
        if name in ('rnn_v', 'rnn_h') and '_rnn_params' in self.__dict__:
            self._bind_rnn_params()  # a replaced nn.LSTM

    def _fused_params(self):
        """All directions' weights concatenated (nn.LSTM's gate order) and the two biases
        summed: (ndir*4D, C), (ndir*4D,), (ndir, 4D, D)."""
        w_ih, bias, w_hh = [], [], []
        for prefix, suffix in self._param_names:
            params = self._rnn_params[prefix]
            w_ih.append(params['weight_ih_l0' + suffix])
            w_hh.append(params['weight_hh_l0' + suffix])
            bias.append(params['bias_ih_l0' + suffix] + params['bias_hh_l0' + suffix])
        # cat/stack only: their backward is views (an index's would be a scatter).
        return torch.cat(w_ih), torch.cat(bias), torch.stack(w_hh)

    def _hidden_states(self, x: torch.Tensor) -> Optional[torch.Tensor]:
        """The (B, H, W, ndir*D) hidden states from the step loops, or None where they do not
        apply (then the reference path runs)."""
        if torch.jit.is_tracing() or torch.jit.is_scripting():
            return None  # nn.LSTM: a graph exporters understand
        if torch.compiler.is_compiling():
            return self._compiled_hidden_states(x)
        if (x.device.type != 'cpu' or x.dtype != torch.float32
                or torch.is_autocast_enabled(x.device.type)):
            return None  # nn.LSTM: cuDNN on CUDA, autocast's dtype policy
        ext = lstm2d_ext.load()
        if ext is None:
            return None
        w_ih, bias, w_hh = self._fused_params()
        return _FusedLSTM2DFunction.apply(x.contiguous(), w_ih, bias, w_hh, self.dirs, ext)

    def _compiled_hidden_states(self, x: torch.Tensor) -> torch.Tensor:
        """The operator, on every device. Half-precision inputs and autocast run it in float32
        (the operator is opaque to autocast; float32 is also what bf16 autocast on CUDA gives
        the eager recurrence); the output has the input's dtype."""
        dtype = x.dtype
        w_ih, bias, w_hh = self._fused_params()
        with torch.autocast(x.device.type, enabled=False):
            if x.element_size() < 4:
                x = x.float()
            w_ih, bias, w_hh = (t.to(x.dtype) for t in (w_ih, bias, w_hh))
            save = torch.is_grad_enabled() and any(
                t.requires_grad for t in (x, w_ih, bias, w_hh))
            out = lstm2d_steps(x.contiguous(), w_ih, bias, w_hh, self._orient, self._reverse,
                               save)[0]
        return out.to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[-1] != self.dim:
            raise ValueError(f'Expected a (B, H, W, {self.dim}) input, got {tuple(x.shape)}')
        out = self._hidden_states(x)
        if out is None:
            # the reference nn.LSTM path on the same parameters
            return super().forward(x)
        if self.union == 'add':
            half = out.shape[-1] // 2
            out = out[..., :half] + out[..., half:]
        return self.fc(out) if self.fc is not None else out
