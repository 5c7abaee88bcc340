"""The block MLP's lean training path: same values and gradients as the three modules, fewer
saved activations."""
import pytest
import torch

from mmseq.models.layers import Mlp


def _plain(mlp, x):
    return mlp.fc2(mlp.act(mlp.fc1(x)))


def _saved_bytes(fn):
    total = []

    def pack(t):
        total.append(t.numel() * t.element_size())
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sum(total)


@pytest.mark.parametrize('frozen,x_grad', [(False, True), (False, False), (True, True)])
def test_lean_mlp_equals_modules(frozen, x_grad):
    torch.manual_seed(0)
    mlp = Mlp(16, 48)
    for p in mlp.parameters():
        torch.nn.init.uniform_(p, -0.5, 0.5)
        p.requires_grad_(not frozen)
    x = torch.randn(2, 3, 5, 16, requires_grad=x_grad)
    grad = torch.randn(2, 3, 5, 16)
    results = []
    for fn in (lambda: mlp(x), lambda: _plain(mlp, x)):
        y = fn()
        inputs = ([x] if x_grad else []) + [p for p in mlp.parameters() if p.requires_grad]
        results.append((y.detach(), torch.autograd.grad(y, inputs, grad)))
    (y_lean, g_lean), (y_ref, g_ref) = results
    torch.testing.assert_close(y_lean, y_ref, rtol=1e-6, atol=1e-6)
    assert len(g_lean) == len(g_ref)
    for a, b in zip(g_lean, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_lean_mlp_saves_half_the_hidden_activations():
    mlp = Mlp(32, 96)
    x = torch.randn(4, 8, 8, 32, requires_grad=True)
    _, lean = _saved_bytes(lambda: mlp(x))
    _, plain = _saved_bytes(lambda: _plain(mlp, x))
    hidden = 4 * 8 * 8 * 96 * 4
    assert plain - lean >= hidden  # the GELU output is not kept
    assert lean < 0.7 * plain


def test_hooked_mlp_runs_the_modules():
    mlp = Mlp(16, 48)
    seen = []
    mlp.act.register_forward_hook(lambda m, a, out: seen.append(out))
    x = torch.randn(1, 2, 2, 16, requires_grad=True)
    mlp(x).sum().backward()
    assert len(seen) == 1 and seen[0].shape == (1, 2, 2, 48)
