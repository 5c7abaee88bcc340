"""FusedBiLSTM2D must be the reference BiLSTM2D's function (values and gradients) on the same
state dict, for every configuration it accepts."""
import pytest
import torch

from helpers import TINY_ARCH
from mmseq.models.backbones.sequencer2d import Sequencer2D
from mmseq.models.layers import BiLSTM2D, FusedBiLSTM2D, fused_bilstm2d, lstm2d_ext
from mmseq.models.layers.token_mixer import MIXER_IMPLS, build_token_mixer, select_impl
from mmseq.registry import MODELS

TOL = dict(atol=1e-5, rtol=1e-5)


@pytest.fixture(autouse=True, params=['cpp', 'fallback'])
def step_loops(request, monkeypatch):
    """Every test runs with the C++ step loops (which must be built here: they are what users
    get) and without them, where the fused module falls back to nn.LSTM."""
    if request.param == 'cpp':
        assert lstm2d_ext.load() is not None, 'the C++ step loops did not build'
    else:
        monkeypatch.setenv('MMSEQ_LSTM2D_EXT', '0')
        assert lstm2d_ext.load() is None
    return request.param


def _recorded_function_calls(monkeypatch):
    """Counts how often the fused autograd function runs."""
    calls = []
    real = fused_bilstm2d._FusedLSTM2DFunction.apply

    def apply(*args):
        calls.append(1)
        return real(*args)
    monkeypatch.setattr(fused_bilstm2d._FusedLSTM2DFunction, 'apply', apply)
    return calls


def _pair(dim, hidden, **kwargs):
    torch.manual_seed(0)
    ref = BiLSTM2D(dim, hidden, **kwargs)
    # Random biases: the default init keeps them small, which could hide a wrong bias fold.
    for p in ref.parameters():
        torch.nn.init.uniform_(p, -0.5, 0.5)
    fused = FusedBiLSTM2D(dim, hidden, **kwargs)
    fused.load_state_dict(ref.state_dict(), strict=True)
    return ref, fused


def _value_and_grads(module, x, grad):
    x = x.clone().requires_grad_()
    y = module(x)
    y.backward(grad)
    return y.detach(), x.grad, {n: p.grad for n, p in module.named_parameters()}


@pytest.mark.parametrize('B,H,W', [(2, 5, 7), (3, 6, 6), (2, 7, 4), (2, 1, 3)])
@pytest.mark.parametrize('kwargs', [
    dict(),
    dict(bidirectional=False),
    dict(union='add'),
    dict(union='vertical'),
    dict(union='horizontal', with_fc=False),
])
def test_fused_equals_reference(B, H, W, kwargs):
    dim, hidden = 16, 8 if kwargs.get('union') in ('vertical', 'horizontal') else 4
    ref, fused = _pair(dim, hidden, **kwargs)
    x = torch.randn(B, H, W, dim)
    with torch.no_grad():
        grad = torch.randn_like(ref(x))
    y_ref, gx_ref, gp_ref = _value_and_grads(ref, x, grad)
    y_fus, gx_fus, gp_fus = _value_and_grads(fused, x, grad)
    torch.testing.assert_close(y_fus, y_ref, **TOL)
    torch.testing.assert_close(gx_fus, gx_ref, **TOL)
    assert gp_fus.keys() == gp_ref.keys()
    for name in gp_ref:
        torch.testing.assert_close(gp_fus[name], gp_ref[name], **TOL, msg=name)


def test_which_path_runs(step_loops, monkeypatch):
    """The C++ loops run for float32 CPU tensors when built; float64 and a missing build run
    nn.LSTM on the same parameters (same values)."""
    calls = _recorded_function_calls(monkeypatch)
    ref, fused = _pair(16, 4)
    x = torch.randn(2, 4, 5, 16)
    grad = torch.randn(2, 4, 5, 16)
    _value_and_grads(fused, x, grad)
    with torch.no_grad():
        fused(x)
    assert len(calls) == (2 if step_loops == 'cpp' else 0)
    ref.double(), fused.double()
    y_ref, gx_ref, _ = _value_and_grads(ref, x.double(), grad.double())
    y_fus, gx_fus, _ = _value_and_grads(fused, x.double(), grad.double())
    torch.testing.assert_close(y_fus, y_ref)
    torch.testing.assert_close(gx_fus, gx_ref)
    assert len(calls) == (2 if step_loops == 'cpp' else 0)


def test_inference_cache_follows_weight_changes():
    ref, fused = _pair(16, 4)
    x = torch.randn(2, 4, 4, 16)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), ref(x), **TOL)
        for module in (ref, fused):  # in place, as an optimizer or load_state_dict does
            module.rnn_h.weight_hh_l0_reverse.mul_(-1.5)
            module.rnn_v.bias_ih_l0.add_(0.25)
        torch.testing.assert_close(fused(x), ref(x), **TOL)
        ref.load_state_dict(BiLSTM2D(16, 4).state_dict())
        fused.load_state_dict(ref.state_dict())
        torch.testing.assert_close(fused(x), ref(x), **TOL)


def test_backbone_no_grad_equals_autograd_forward():
    """Inference and training forwards give the same values; repeated inference is exact."""
    torch.manual_seed(0)
    model = Sequencer2D(TINY_ARCH, out_indices=(0, 1, 2, 3)).eval()
    x = torch.randn(2, 3, 42, 56)
    with_grad = model(x)
    with torch.no_grad():
        first, second = model(x), model(x)
    for a, b, c in zip(with_grad, first, second):
        torch.testing.assert_close(b, a.detach(), **TOL)
        torch.testing.assert_close(c, b, rtol=0, atol=0)


def test_retain_graph_and_no_grad():
    ref, fused = _pair(8, 4)
    x = torch.randn(2, 3, 5, 8, requires_grad=True)
    y = fused(x)
    g1, = torch.autograd.grad(y.sum(), x, retain_graph=True)
    g2, = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(g1, g2)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), ref(x), **TOL)


@pytest.mark.parametrize('B,H,W', [(2, 5, 7), (1, 4, 4)])
def test_fused_inference_path(B, H, W):
    ref, fused = _pair(16, 4)
    x = torch.randn(B, H, W, 16)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), ref(x), **TOL)
    ref.eval(), fused.eval()
    with torch.inference_mode():
        torch.testing.assert_close(fused(x), ref(x), **TOL)


def test_state_dict_keys_both_ways():
    ref, fused = _pair(16, 4)
    assert list(ref.state_dict()) == list(fused.state_dict())
    assert 'rnn_v.weight_ih_l0_reverse' in fused.state_dict()
    ref2 = BiLSTM2D(16, 4)
    ref2.load_state_dict(fused.state_dict(), strict=True)
    x = torch.randn(1, 3, 4, 16)
    with torch.no_grad():
        torch.testing.assert_close(ref2(x), fused(x), **TOL)


def test_unsupported_rnn_type_and_auto():
    with pytest.raises(ValueError, match="rnn_type='lstm'"):
        FusedBiLSTM2D(16, 4, rnn_type='gru')
    assert MIXER_IMPLS == {'reference': 'BiLSTM2D', 'fused': 'FusedBiLSTM2D'}
    assert MODELS.get('FusedBiLSTM2D') is FusedBiLSTM2D and MODELS.get('BiLSTM2D') is BiLSTM2D
    assert select_impl('lstm') == 'fused'
    assert select_impl('gru') == select_impl('rnn') == 'reference'
    assert type(build_token_mixer('auto', 16, 4)) is FusedBiLSTM2D
    assert type(build_token_mixer('auto', 16, 4, rnn_type='gru')) is BiLSTM2D
    with pytest.raises(ValueError, match='mixer_impl'):
        build_token_mixer('nope', 16, 4)
    with pytest.raises(ValueError, match=r'\(B, H, W, 16\)'):
        FusedBiLSTM2D(16, 4)(torch.randn(2, 3, 16))


def test_autocast_uses_reference_path():
    ref, fused = _pair(8, 4)
    x = torch.randn(1, 3, 3, 8)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        y_ref, y_fus = ref(x), fused(x)
    assert y_fus.dtype == y_ref.dtype
    torch.testing.assert_close(y_fus, y_ref)


@pytest.mark.parametrize('size', [(30, 44), (28, 28)])
def test_sequencer2d_fused_vs_reference(size):
    torch.manual_seed(0)
    ref = Sequencer2D(TINY_ARCH, mixer_impl='reference', out_indices=(0, 3))
    fused = Sequencer2D(TINY_ARCH, mixer_impl='fused', out_indices=(0, 3))
    auto = Sequencer2D(TINY_ARCH, out_indices=(0, 3))
    assert isinstance(auto.stages[0].blocks[0].token_mixer, FusedBiLSTM2D)
    assert type(ref.stages[0].blocks[0].token_mixer) is BiLSTM2D
    fused.load_state_dict(ref.state_dict(), strict=True)
    ref.load_state_dict(fused.state_dict(), strict=True)
    x = torch.randn(2, 3, *size)
    outs_ref = ref(x)
    outs_fus = fused(x)
    for a, b in zip(outs_fus, outs_ref):
        torch.testing.assert_close(a, b, **TOL)
    sum(o.sum() for o in outs_ref).backward()
    sum(o.sum() for o in outs_fus).backward()
    grads_ref = dict(ref.named_parameters())
    for name, p in fused.named_parameters():
        torch.testing.assert_close(p.grad, grads_ref[name].grad, atol=1e-4, rtol=1e-4, msg=name)
