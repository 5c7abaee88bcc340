"""The block MLP's recomputed GELU: same values and gradients as the three modules, its output
not kept for the backward, the modules' hooks still called."""
import pytest
import torch

from mmseq.models.layers import Mlp


def _plain(mlp, x):
    return mlp.fc2(mlp.act(mlp.fc1(x)))


@pytest.mark.parametrize('frozen,x_grad', [(False, True), (False, False), (True, True)])
def test_recomputing_mlp_equals_modules(frozen, x_grad):
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


def _gelu_output_kept(mlp, x):
    """Whether autograd keeps the GELU output: changing it in place after the forward makes
    the backward fail (version check) only if a saved tensor is that output."""
    seen = []
    handle = mlp.act.register_forward_hook(lambda m, a, out: seen.append(out))
    y = mlp(x)
    handle.remove()
    with torch.no_grad():
        seen[0].add_(1.0)
    try:
        y.sum().backward()
    except RuntimeError as e:
        assert 'modified by an inplace operation' in str(e)
        return True
    return False


@pytest.mark.parametrize('shape', [(4, 8, 8, 32), (5, 32)])
def test_gelu_output_is_recomputed_not_kept(shape):
    x = torch.randn(*shape, requires_grad=True)
    assert not _gelu_output_kept(Mlp(32, 96), x)
    assert _gelu_output_kept(Mlp(32, 96, recompute_act=False), x)


def test_recompute_gives_the_plain_gradients_after_the_output_changed():
    torch.manual_seed(0)
    mlp = Mlp(16, 48)
    x = torch.randn(2, 3, 5, 16, requires_grad=True)
    expected = torch.autograd.grad(_plain(mlp, x).sum(), [x, *mlp.parameters()])
    assert not _gelu_output_kept(mlp, x)  # backward ran on the recomputed output
    got = [x.grad] + [p.grad for p in mlp.parameters()]
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_hooked_mlp_runs_the_modules():
    mlp = Mlp(16, 48)
    seen = []
    mlp.act.register_forward_hook(lambda m, a, out: seen.append(out))
    x = torch.randn(1, 2, 2, 16, requires_grad=True)
    mlp(x).sum().backward()
    assert len(seen) == 1 and seen[0].shape == (1, 2, 2, 48)
