"""torch.compile of Sequencer2D with the fused BiLSTM2D: one graph, no graph break, in
inference and in a training step; the compiled model's values and gradients are eager's;
the registered operators' fake kernels describe what the real ones return; mmengine's
``compile=True`` trains."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from torch._subclasses.fake_tensor import FakeTensorMode

from helpers import TINY_ARCH, config_file
from mmseq.models.backbones.sequencer2d import Sequencer2D
from mmseq.models.layers import FusedBiLSTM2D, lstm2d_ext
from mmseq.models.layers.fused_bilstm2d import lstm2d_steps, lstm2d_steps_backward

TOL = dict(atol=1e-4, rtol=1e-4)
STEPS_OP = torch.ops.mmseq.lstm2d_steps.default


@pytest.fixture(autouse=True)
def fresh_dynamo():
    assert lstm2d_ext.load() is not None, 'the C++ step loops did not build'
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _op_calls(graphs) -> int:
    return sum(node.target is STEPS_OP for g in graphs for node in g.graph.nodes)


def _mixer_args(B, H, W, bidirectional=True, union='cat'):
    torch.manual_seed(0)
    mixer = FusedBiLSTM2D(8, 4, bidirectional=bidirectional, union=union)
    for p in mixer.parameters():
        torch.nn.init.uniform_(p, -0.5, 0.5)
    w_ih, bias, w_hh = (t.detach().requires_grad_() for t in mixer._fused_params())
    return mixer, torch.randn(B, H, W, 8, requires_grad=True), w_ih, bias, w_hh


@pytest.mark.parametrize('B,H,W,kwargs', [
    (2, 5, 7, dict()),                                   # two groups of directions
    (3, 4, 4, dict()),                                   # one group (H == W)
    (2, 3, 6, dict(bidirectional=False)),
    (2, 6, 3, dict(union='vertical')),                   # vertical directions only
])
@pytest.mark.parametrize('save', [True, False])
def test_fake_kernels_match_real_ones(B, H, W, kwargs, save):
    mixer, x, w_ih, bias, w_hh = _mixer_args(B, H, W, **kwargs)
    args = (x, w_ih, bias, w_hh, mixer._orient, mixer._reverse)
    with torch.no_grad():
        real_out, real_saved = lstm2d_steps(*args, save)
    assert len(real_saved) == (0 if not save else 2 if H == W or len(set(mixer._orient)) == 1
                               else 4)
    with FakeTensorMode() as mode:
        fake_args = [mode.from_tensor(a) if isinstance(a, torch.Tensor) else a for a in args]
        fake_out, fake_saved = lstm2d_steps(*fake_args, save)
    for real, fake in zip([real_out, *real_saved], [fake_out, *fake_saved], strict=True):
        assert (fake.shape, fake.dtype, fake.stride()) == (real.shape, real.dtype, real.stride())
    if save:
        grad = torch.randn_like(real_out)
        real_dg = lstm2d_steps_backward(grad, w_hh.detach(), real_saved, mixer._orient,
                                        mixer._reverse)
        with FakeTensorMode() as mode:
            fake_dg = lstm2d_steps_backward(mode.from_tensor(grad), mode.from_tensor(w_hh),
                                            [mode.from_tensor(t) for t in real_saved],
                                            mixer._orient, mixer._reverse)
        assert (fake_dg.shape, fake_dg.stride()) == (real_dg.shape, real_dg.stride())


def test_operator_passes_opcheck():
    """torch.library's own checks: schema, fake kernel, autograd registration, AOT dispatch."""
    mixer, x, w_ih, bias, w_hh = _mixer_args(2, 3, 5)
    torch.library.opcheck(lstm2d_steps, (x, w_ih, bias, w_hh, mixer._orient, mixer._reverse,
                                         True))


def test_operator_gradients_equal_the_reference():
    """The operator's autograd formula gives the reference BiLSTM2D's gradients (eager)."""
    from mmseq.models.layers import BiLSTM2D
    mixer, x, *_ = _mixer_args(2, 5, 7)
    ref = BiLSTM2D(8, 4)
    ref.load_state_dict(mixer.state_dict())
    grad = torch.randn(2, 5, 7, 8)
    w_ih, bias, w_hh = mixer._fused_params()
    out, _ = lstm2d_steps(x, w_ih, bias, w_hh, mixer._orient, mixer._reverse, True)
    y = mixer.fc(out)
    gx, *gp = torch.autograd.grad(y, [x, *mixer.parameters()], grad)
    y_ref = ref(x)
    gx_ref, *gp_ref = torch.autograd.grad(y_ref, [x, *ref.parameters()], grad)
    torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(gx, gx_ref, atol=1e-5, rtol=1e-5)
    for g, g_ref in zip(gp, gp_ref, strict=True):
        torch.testing.assert_close(g, g_ref, atol=1e-5, rtol=1e-5)


def test_sequencer2d_s_inference_is_one_graph():
    torch.manual_seed(0)
    model = Sequencer2D('s').eval()
    with torch.no_grad():
        report = torch._dynamo.explain(model)(torch.randn(1, 3, 112, 112))
    assert (report.graph_count, report.graph_break_count) == (1, 0), report.break_reasons
    assert _op_calls(report.graphs) == sum(Sequencer2D.arch_zoo['s']['layers'])


def test_training_step_is_one_graph():
    """Forward and loss of a training step, with stochastic depth on: one graph."""
    torch.manual_seed(0)
    model = Sequencer2D(TINY_ARCH, drop_path_rate=0.2, out_indices=(0, 1, 2, 3)).train()
    x = torch.randn(2, 3, 42, 56)

    def loss(inp):
        return sum(out.square().mean() for out in model(inp))

    report = torch._dynamo.explain(loss)(x)
    assert (report.graph_count, report.graph_break_count) == (1, 0), report.break_reasons
    assert _op_calls(report.graphs) == sum(TINY_ARCH['layers'])


def test_compiled_matches_eager():
    """Inference outputs and a training step's input and parameter gradients of the compiled
    tiny model (inductor) equal eager's within 1e-4, with no graph break (the backward is
    compiled by AOTAutograd)."""
    from torch._dynamo.utils import counters
    torch.manual_seed(0)
    model = Sequencer2D(TINY_ARCH, out_indices=(0, 1, 2, 3))
    model.init_weights()
    compiled = torch.compile(model, dynamic=False)
    x = torch.randn(2, 3, 42, 56)  # stages of 6x8 and 3x4 tokens: both groups of directions
    counters.clear()

    model.eval()
    with torch.no_grad():
        for ref, out in zip(model(x), compiled(x), strict=True):
            torch.testing.assert_close(out, ref, **TOL)

    model.train()
    weights = [torch.randn(o.shape) for o in model(x)]

    def grads(m):
        inp = x.clone().requires_grad_()
        loss = sum((o * w).sum() for o, w in zip(m(inp), weights))
        return [inp, *model.parameters()], torch.autograd.grad(
            loss, [inp, *model.parameters()])

    names = ['input'] + [n for n, _ in model.named_parameters()]
    _, ref_grads = grads(model)
    _, comp_grads = grads(compiled)
    for name, ref, got in zip(names, ref_grads, comp_grads, strict=True):
        torch.testing.assert_close(got, ref, **TOL, msg=name)
    assert not counters['graph_break'], dict(counters['graph_break'])


@pytest.mark.parametrize('B,H,W,kwargs', [
    (2, 5, 7, dict()), (3, 4, 4, dict()), (2, 3, 6, dict(bidirectional=False)),
    (2, 6, 3, dict(union='vertical')), (1, 4, 6, dict(union='horizontal'))])
def test_tensor_loops_equal_the_cpp_loops(B, H, W, kwargs):
    """The operators' kernels for other devices and dtypes (``lstm2d_tensor_loops``): the C++
    loops' outputs, saved tensors (same shapes and layout) and gate gradients."""
    from mmseq.models.layers import lstm2d_tensor_loops
    mixer, x, w_ih, bias, w_hh = _mixer_args(B, H, W, **kwargs)
    with torch.no_grad():
        ndir, four_d, _ = w_hh.shape
        gates = (x.reshape(-1, 8) @ w_ih.t()).view(B, H, W, ndir, four_d)
        args = (gates, bias.contiguous(), w_hh.transpose(1, 2).contiguous(), mixer._orient,
                mixer._reverse, True)
        cpp, tensor = lstm2d_ext.load().forward(*args), lstm2d_tensor_loops.forward(*args)
        grad = torch.randn_like(cpp[0])
        dg_cpp = lstm2d_ext.load().backward(grad, w_hh.contiguous(), cpp[1:], mixer._orient,
                                            mixer._reverse)
        dg_tensor = lstm2d_tensor_loops.backward(grad, w_hh.contiguous(), tensor[1:],
                                                 mixer._orient, mixer._reverse)
    for a, b in zip(cpp, tensor, strict=True):
        torch.testing.assert_close(b, a, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(dg_tensor, dg_cpp, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize('case', ['float64', 'cpu-bf16-autocast'])
def test_one_graph_where_the_cpp_loops_do_not_apply(case):
    """Where the C++ loops do not apply (a float64 model and CPU bf16 autocast here; CUDA
    always), a compiled mixer still calls the registered operator, with the tensor-op loops
    inside: one graph, no break at the nn.LSTM modules (eager there runs nn.LSTM; the
    reference mixer, which only has nn.LSTM, gives 10 graphs for this model). Compiled
    (AOTAutograd), the float64 gradients are the reference nn.LSTM model's."""
    torch.manual_seed(0)
    dtype = torch.float64 if case == 'float64' else torch.float32
    model = Sequencer2D(TINY_ARCH, out_indices=(0, 1, 2, 3)).to(dtype).train()
    x = torch.randn(2, 3, 42, 56, dtype=dtype)

    def loss_of(m):
        def loss(inp):
            with torch.autocast('cpu', dtype=torch.bfloat16, enabled=case != 'float64'):
                return sum(out.float().square().mean() for out in m(inp))
        return loss

    report = torch._dynamo.explain(loss_of(model))(x)
    assert (report.graph_count, report.graph_break_count) == (1, 0), report.break_reasons
    assert _op_calls(report.graphs) == sum(TINY_ARCH['layers'])
    if case == 'float64':
        torch._dynamo.reset()
        reference = Sequencer2D(TINY_ARCH, out_indices=(0, 1, 2, 3), mixer_impl='reference')
        reference.to(dtype).load_state_dict(model.state_dict())
        ref = torch.autograd.grad(loss_of(reference)(x), list(reference.parameters()))
        got = torch.autograd.grad(torch.compile(loss_of(model), backend='aot_eager')(x),
                                  list(model.parameters()))
        for g, g_ref in zip(got, ref, strict=True):
            torch.testing.assert_close(g, g_ref, atol=1e-10, rtol=1e-10)


@pytest.mark.slow  # inductor compiles the data preprocessor, model and AdamW step: minutes
def test_runner_trains_with_compile(tmp_path):
    """mmengine's ``compile=True`` (torch.compile of the model's train_step) in a short
    training run of the tiny classification config with the recipe's training parts: AdamW
    with the paramwise_cfg weight-decay exemptions (through
    ``mmseq.CompilableOptimWrapperConstructor``) and Mixup/CutMix. The batch augments and
    mmengine's loss parsing break the train_step's graph (numpy random numbers, ``.item()``);
    the model itself is one graph (the tests above)."""
    from mmengine.runner import Runner
    from mmseq.testing import make_imagenet
    data = osp.join(tmp_path, 'imagenet')
    # 8 images: two iterations of one shape (a smaller last batch would recompile)
    make_imagenet(data, num_classes=4, per_class=2, val_per_class=1, size=64)
    cfg = Config.fromfile(config_file('tiny_seq2d_in1k.py'))
    cfg.merge_from_dict({'train_dataloader.dataset.data_root': data})
    assert [a['type'] for a in cfg.model.train_cfg.augments] == ['Mixup', 'CutMix']
    assert cfg.optim_wrapper.optimizer.type == 'AdamW' and cfg.optim_wrapper.paramwise_cfg
    cfg.update(work_dir=str(tmp_path / 'work'), compile=True, val_dataloader=None,
               val_cfg=None, val_evaluator=None, test_dataloader=None, test_cfg=None,
               test_evaluator=None, log_level='WARNING',
               train_cfg=dict(by_epoch=True, max_epochs=1))
    runner = Runner.from_cfg(cfg)
    eager_train_step = runner.model.train_step
    runner.train()
    assert runner.iter == 2
    # the train step that ran is torch.compile's wrapper of the model's own
    assert runner.model.train_step._torchdynamo_orig_callable == eager_train_step
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert torch.isfinite(torch.tensor(loss))
    # AdamW stepped: it holds a state for every trained parameter
    optimizer = runner.optim_wrapper.optimizer
    assert len(optimizer.state) == sum(1 for p in runner.model.parameters() if p.requires_grad)
    assert osp.isfile(tmp_path / 'work' / 'epoch_1.pth')
