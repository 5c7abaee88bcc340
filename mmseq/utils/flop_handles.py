"""Recurrent layers in mmengine's FLOP counter (``mmengine.analysis``).

mmengine's ``FlopAnalyzer`` traces the model with ``torch.jit`` and counts each graph op with a
handle from ``mmengine.analysis.complexity_analysis._DEFAULT_SUPPORTED_FLOP_OPS``; ops without
one count 0 and are listed as unsupported. ``aten::lstm`` (what ``nn.LSTM`` and, under
tracing, every BiLSTM2D run) has none, so ``get_model_complexity_info`` and the OpenMMLab
``tools/analysis_tools/get_flops.py`` built on it read Sequencer2D-S at 224 as 4.96G instead of
8.37G.

:func:`register_mmengine_flop_handles` adds handles for ``aten::lstm``, ``aten::gru``,
``aten::rnn_tanh`` and ``aten::rnn_relu`` to that default table (read by every new
``FlopAnalyzer``, as ``set_op_handle`` would for one analyzer) and output-size activation
handles to ``_DEFAULT_SUPPORTED_ACT_OPS``. Importing :mod:`mmseq` (so any part of it, e.g. a
config's ``custom_imports=['mmseq.models']``) calls it.

The count is the convention of ``tools/analysis/get_flops.py`` (multiply-accumulates, one
per FLOP as mmengine counts, as in the paper): per token, layer and direction,
``gates * hidden * (input + hidden)`` for the input and recurrent products (every weight
matrix of the op, so ``proj_size`` is included) plus ``CELL_OPS`` per hidden unit for the
bias adds and gate element-wise ops (the ptflops / DeepSpeed convention the paper's numbers
follow).
"""
import math
from typing import Any, List, Optional

# RNN op -> (gates, element-wise cell ops per hidden unit and step), also used by
# tools/analysis/get_flops.py. Cell ops in the ptflops / DeepSpeed convention: bias adds
# (2 per gate), the gate sum and the cell/state updates; LSTM 8 + 4 + 3 + 3, GRU 6 + 1 + 3 + 3,
# RNN 2 + 1.
RNN_OPS = {
    'aten::lstm': (4, 18),
    'aten::gru': (3, 13),
    'aten::rnn_tanh': (1, 3),
    'aten::rnn_relu': (1, 3),
}

_registered = False


def _shape(value: Any) -> Optional[List[int]]:
    return value.type().sizes() if value.isCompleteTensor() else None


def _constant(value: Any) -> Any:
    return value.toIValue() if value.node().kind() == 'prim::Constant' else None


def rnn_flop_handle(gates: int, cell_ops: int):
    """A FLOP handle for one ``aten::{lstm,gru,rnn_*}`` graph node (any overload)."""

    def handle(inputs: List[Any], outputs: List[Any]) -> int:
        # (input, hx, params, has_biases, num_layers, dropout, train, bidirectional,
        # batch_first), or (data, batch_sizes, hx, params, ...) for a packed sequence; LSTM's
        # hx is a list as well: the weights are the last list input.
        lists = [i for i, v in enumerate(inputs) if v.type().kind() == 'ListType']
        if not lists:
            return 0
        index = lists[-1]
        weights = [_shape(v) for v in inputs[index].node().inputs()]
        input_shape = _shape(inputs[0])
        num_layers = _constant(inputs[index + 2])
        bidirectional = _constant(inputs[index + 5])
        if input_shape is None or num_layers is None or bidirectional is None \
                or any(w is None for w in weights):
            return 0
        # Every layer and direction sees every token once: batch x steps (or the packed
        # sequence's total length).
        tokens = math.prod(input_shape[:-1])
        matrices = [w for w in weights if len(w) == 2]
        per_group = len(matrices) // (num_layers * (2 if bidirectional else 1))
        if per_group not in (2, 3):  # (w_ih, w_hh) or (w_ih, w_hh, w_hr)
            return 0
        macs = sum(rows * cols for rows, cols in matrices)
        hidden = sum(w_ih[0] // gates for w_ih in matrices[::per_group])
        return tokens * (macs + cell_ops * hidden)

    return handle


def rnn_activation_handle(inputs: List[Any], outputs: List[Any]) -> int:
    """Activations of an RNN op: the size of its output sequence (as mmengine counts a
    linear layer's)."""
    shape = _shape(outputs[0])
    return math.prod(shape) if shape is not None else 0


def register_mmengine_flop_handles() -> None:
    """Make every ``mmengine.analysis`` FLOP / activation counter handle RNN ops.

    Idempotent; a handle that a caller already put in the default tables is kept.
    """
    global _registered
    if _registered:
        return
    from mmengine.analysis import complexity_analysis
    for op, (gates, cell_ops) in RNN_OPS.items():
        complexity_analysis._DEFAULT_SUPPORTED_FLOP_OPS.setdefault(
            op, rnn_flop_handle(gates, cell_ops))
        complexity_analysis._DEFAULT_SUPPORTED_ACT_OPS.setdefault(op, rnn_activation_handle)
    _registered = True
