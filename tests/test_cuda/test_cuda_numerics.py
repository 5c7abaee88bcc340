"""BiLSTM2D and Sequencer2D on CUDA: the fused mixer against the ``nn.LSTM`` reference and
against the CPU's C++ loops, activation checkpointing (``with_cp``) and ``torch.compile``.

TF32 is off in these tests: with it (cuDNN's default for RNNs and convolutions) float32
results move by ~1e-3, so CPU tolerances would not carry over.
"""
import copy

import pytest
import torch

from helpers import TINY_ARCH
from mmseq.models.backbones.sequencer2d import Sequencer2D
from mmseq.models.layers import BiLSTM2D, FusedBiLSTM2D

pytestmark = pytest.mark.cuda
ATOL = RTOL = 1e-5


@pytest.fixture(autouse=True)
def no_tf32():
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _forward_backward(module, x):
    module.zero_grad(set_to_none=True)  # a deep copy carries the gradients of an earlier call
    x = x.detach().clone().requires_grad_(True)
    out = module(x)
    # a weighting that differs per element, so a misplaced gradient shows
    (out * torch.linspace(-1, 1, out.numel(), device=out.device).view_as(out)).sum().backward()
    grads = {n: p.grad.detach().clone() for n, p in module.named_parameters()}
    return out.detach(), x.grad.detach(), grads


def _assert_same(a, b, atol=ATOL, rtol=RTOL):
    out_a, gx_a, g_a = a
    out_b, gx_b, g_b = b
    torch.testing.assert_close(out_b.cpu(), out_a.cpu(), atol=atol, rtol=rtol)
    torch.testing.assert_close(gx_b.cpu(), gx_a.cpu(), atol=atol, rtol=rtol)
    assert g_a.keys() == g_b.keys()
    for name in g_a:
        torch.testing.assert_close(g_b[name].cpu(), g_a[name].cpu(), atol=atol, rtol=rtol,
                                   msg=f'gradient of {name}')


def _train_step(fn, module, x):
    """Outputs of ``fn(x)`` and the gradients of ``module``'s parameters after the backward of
    a loss over all of them."""
    outs = fn(x)
    sum(o.square().mean() for o in outs).backward()
    return ([o.detach() for o in outs],
            {n: p.grad.detach().clone() for n, p in module.named_parameters()})


def _assert_steps_close(a, b, atol, rtol):
    (outs_a, grads_a), (outs_b, grads_b) = a, b
    for out_a, out_b in zip(outs_a, outs_b):
        torch.testing.assert_close(out_b, out_a, atol=atol, rtol=rtol)
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name], atol=atol, rtol=rtol,
                                   msg=f'gradient of {name}')


@pytest.mark.parametrize('union', ['cat', 'add', 'vertical', 'horizontal'])
@pytest.mark.parametrize('bidirectional', [True, False])
def test_fused_matches_reference_on_cuda_and_cpu(union, bidirectional):
    torch.manual_seed(0)
    ref = BiLSTM2D(32, 8, bidirectional=bidirectional, union=union)
    fused = FusedBiLSTM2D(32, 8, bidirectional=bidirectional, union=union)
    fused.load_state_dict(ref.state_dict())
    x = torch.randn(2, 9, 11, 32)  # H != W: a swapped scan axis shows
    cpu_fused = _forward_backward(fused, x)  # the C++ loops where they are built
    ref_cuda = _forward_backward(copy.deepcopy(ref).cuda(), x.cuda())
    fused_cuda = _forward_backward(copy.deepcopy(fused).cuda(), x.cuda())
    _assert_same(ref_cuda, fused_cuda)
    _assert_same(cpu_fused, fused_cuda)


@pytest.mark.parametrize('impl', ['fused', 'reference'])
def test_with_cp_matches_on_cuda(impl):
    torch.manual_seed(0)
    plain = Sequencer2D(TINY_ARCH, mixer_impl=impl, out_indices=(0, 1, 2, 3)).cuda().train()
    ckpt = Sequencer2D(TINY_ARCH, mixer_impl=impl, out_indices=(0, 1, 2, 3),
                       with_cp=True).cuda().train()
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 56, 42, device='cuda')
    _assert_steps_close(_train_step(plain, plain, x), _train_step(ckpt, ckpt, x), ATOL, RTOL)


@pytest.mark.parametrize('impl', ['fused', 'reference'])
def test_compiled_equals_eager_on_cuda(impl):
    """torch.compile (inductor) of the backbone: outputs and gradients as in eager mode
    (graph breaks are another test's business, tests/test_models/test_compile.py)."""
    torch._dynamo.reset()
    torch.manual_seed(0)
    eager = Sequencer2D(TINY_ARCH, mixer_impl=impl, out_indices=(1, 3)).cuda().train()
    model = copy.deepcopy(eager)
    compiled = torch.compile(model)
    x = torch.randn(2, 3, 56, 56, device='cuda')
    _assert_steps_close(_train_step(eager, eager, x), _train_step(compiled, model, x), 1e-4,
                        1e-4)
    with torch.no_grad():
        eager.eval()
        model.eval()
        for a, b in zip(eager(x), compiled(x)):
            torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize('amp', [None, torch.float16, torch.bfloat16])
def test_fused_is_one_graph_on_cuda(amp):
    """Under torch.compile the fused mixer calls the registered operator on CUDA too (the
    tensor-op step loops inside): a training step's forward is one graph without breaks,
    also under autocast, and a training step's gradients are eager's (nn.LSTM, cuDNN) within
    fp32 tolerances (TF32 off; under autocast the compiled recurrence runs in fp32)."""
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = Sequencer2D(TINY_ARCH, mixer_impl='fused', out_indices=(0, 1, 2, 3)).cuda().train()
    x = torch.randn(2, 3, 42, 56, device='cuda')
    steps_op = torch.ops.mmseq.lstm2d_steps.default

    def loss(inp):
        with torch.autocast('cuda', dtype=amp or torch.float16, enabled=amp is not None):
            return sum(out.float().square().mean() for out in model(inp))

    report = torch._dynamo.explain(loss)(x)
    assert (report.graph_count, report.graph_break_count) == (1, 0), report.break_reasons
    calls = sum(node.target is steps_op for g in report.graphs for node in g.graph.nodes)
    assert calls == sum(TINY_ARCH['layers'])
    if amp is None:
        torch._dynamo.reset()
        params = list(model.parameters())
        ref = torch.autograd.grad(loss(x), params)
        got = torch.autograd.grad(torch.compile(loss)(x), params)
        for g, g_ref in zip(got, ref, strict=True):
            torch.testing.assert_close(g, g_ref, atol=1e-4, rtol=1e-4)
    torch._dynamo.reset()
