"""The BiLSTM2D step loops of ``csrc/lstm2d_steps.cpp`` written with torch operations: the same
two functions, arguments, layouts and saved tensors, on any device and floating dtype.

The registered operators ``mmseq::lstm2d_steps`` / ``lstm2d_steps_backward`` run these where
the C++ loops do not (CUDA, float64, the loops not built), so that ``torch.compile`` sees one
opaque operator per mixer on every device instead of a graph break at every ``nn.LSTM``
(Dynamo does not trace RNN modules) or torch's per-step decomposition of ``aten::lstm``
(thousands of nodes for Sequencer2D). Each step is one batched GEMM over the directions of a
group and a few element-wise kernels; eager calls keep ``nn.LSTM`` (cuDNN on CUDA).

Layouts (as the C++ file): gates (B, H, W, ndir, 4D) input projections without bias; bias
(ndir * 4D,) = b_ih + b_hh; w_hh_t (ndir, D, 4D); out (B, H, W, ndir * D). A group is the
directions that share a sequence length (all of them when H == W, else one per orientation);
per group the forward saves the activated gates (L, k, rows, 4D) and cells (L, k, rows, D).
"""
from typing import List, Tuple

import torch


def _groups(H: int, W: int, orient: List[int]) -> List[Tuple[int, List[int]]]:
    """(orientation or -1 for both, direction indices) per group, in the C++ order."""
    if H == W:
        return [(-1, list(range(len(orient))))]
    return [(o, [s for s, so in enumerate(orient) if so == o]) for o in (0, 1) if o in orient]


def _sequences(t5: torch.Tensor, slot: int, orient: int, reverse: int) -> torch.Tensor:
    """Direction ``slot`` of a (B, H, W, ndir, F) map as (L, rows, F) in its time order:
    rows are b * W + x for a vertical direction (time runs over y), b * H + y for a
    horizontal one."""
    B, H, W = t5.shape[:3]
    t = t5[:, :, :, slot]
    seq = t.permute(1, 0, 2, 3).reshape(H, B * W, -1) if orient == 0 else \
        t.permute(2, 0, 1, 3).reshape(W, B * H, -1)
    return seq.flip(0) if reverse else seq


def _write_sequences(t5: torch.Tensor, slot: int, orient: int, reverse: int,
                     seq: torch.Tensor) -> None:
    """The inverse of :func:`_sequences`: writes (L, rows, F) into ``t5[:, :, :, slot]``."""
    B, H, W = t5.shape[:3]
    if reverse:
        seq = seq.flip(0)
    if orient == 0:
        t5[:, :, :, slot] = seq.view(H, B, W, -1).permute(1, 0, 2, 3)
    else:
        t5[:, :, :, slot] = seq.view(W, B, H, -1).permute(1, 2, 0, 3)


def forward(gates: torch.Tensor, bias: torch.Tensor, w_hh_t: torch.Tensor, orient: List[int],
            reverse: List[int], save: bool) -> List[torch.Tensor]:
    """[out, *saved] as the C++ ``forward`` returns them."""
    B, H, W, ndir, G4 = gates.shape
    D = G4 // 4
    out = gates.new_empty(B, H, W, ndir * D)
    out5 = out.view(B, H, W, ndir, D)
    bias = bias.view(ndir, 1, G4)
    results = [out]
    for _, slots in _groups(H, W, orient):
        # (L, k, rows, 4D): the group's directions side by side, each in its own time order,
        # biases added once here (the stack is a fresh tensor) rather than at every step
        gi = torch.stack([_sequences(gates, s, orient[s], reverse[s]) for s in slots], 1)
        gi += bias[slots]
        L, k, R, _ = gi.shape
        w = w_hh_t[slots]
        h = gi.new_zeros(k, R, D)
        c = gi.new_zeros(k, R, D)
        hs = gi.new_empty(L, k, R, D)
        acts = gi.new_empty(L, k, R, G4) if save else None
        cells = gi.new_empty(L, k, R, D) if save else None
        for t in range(L):
            pre = torch.baddbmm(gi[t], h, w) if t > 0 else gi[t]
            i, f, g, o = pre.chunk(4, -1)
            i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
            c = f * c + i * g
            h = o * c.tanh()
            hs[t] = h
            if save:
                torch.cat([i, f, g, o], -1, out=acts[t])
                cells[t] = c
        for j, s in enumerate(slots):
            _write_sequences(out5, s, orient[s], reverse[s], hs[:, j])
        if save:
            results += [acts, cells]
    return results


def backward(grad_out: torch.Tensor, w_hh: torch.Tensor, saved: List[torch.Tensor],
             orient: List[int], reverse: List[int]) -> torch.Tensor:
    """The gate pre-activation gradients (B, H, W, ndir, 4D), as the C++ ``backward``."""
    B, H, W = grad_out.shape[:3]
    ndir, G4, D = w_hh.shape
    dgates = grad_out.new_empty(B, H, W, ndir, G4)
    go5 = grad_out.view(B, H, W, ndir, D)
    groups = _groups(H, W, orient)
    if len(saved) != 2 * len(groups):
        raise ValueError('saved tensors do not match the directions')
    for (_, slots), acts, cells in zip(groups, saved[0::2], saved[1::2]):
        go = torch.stack([_sequences(go5, s, orient[s], reverse[s]) for s in slots], 1)
        L, k, R, _ = go.shape
        w = w_hh[slots]
        dh_rec = go.new_zeros(k, R, D)
        dc_next = go.new_zeros(k, R, D)
        dg = go.new_empty(L, k, R, G4)
        for t in range(L - 1, -1, -1):
            i, f, g, o = acts[t].chunk(4, -1)
            c_prev = cells[t - 1] if t > 0 else torch.zeros_like(cells[0])
            dh = go[t] + dh_rec
            tc = cells[t].tanh()
            dc = dh * o * (1 - tc * tc) + dc_next
            torch.cat([dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g * g),
                       dh * tc * o * (1 - o)], -1, out=dg[t])
            dc_next = dc * f
            if t > 0:
                dh_rec = torch.bmm(dg[t], w)
        for j, s in enumerate(slots):
            _write_sequences(dgates, s, orient[s], reverse[s], dg[:, j])
    return dgates
