"""Mixed precision on CUDA.

- A classifier training step under mmengine's ``AmpOptimWrapper`` in fp16 (dynamic loss
  scaling, what ``--amp`` and the IN-1K recipes use on CUDA) and bf16: the loss is finite and
  the LSTM gradients did not underflow (they point where the float32 step's do, with no more
  exact zeros).
- The recurrence's dtype under autocast (``run_rnn`` in ``mmseq/models/layers/bilstm2d.py``):
  cuDNN has no bf16 RNN and autocast runs cuDNN's LSTM in fp16 whatever autocast's dtype, so
  under bf16 the LSTMs run in float32; under fp16 they run in fp16 (loss scaled).
"""
import copy
import os.path as osp

import pytest
import torch
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from helpers import REPO, build_model
from mmseq.engine.runner import configure_amp
from mmseq.models.layers import BiLSTM2D, FusedBiLSTM2D
from mmseq.utils import load_config

pytestmark = pytest.mark.cuda


def _batch(n=4, size=56, num_classes=5):
    from mmpretrain.structures import DataSample
    gen = torch.Generator().manual_seed(0)
    inputs = [torch.randint(0, 256, (3, size, size), generator=gen, dtype=torch.uint8)
              for _ in range(n)]
    samples = [DataSample().set_gt_label(i % num_classes) for i in range(n)]
    return dict(inputs=inputs, data_samples=samples)


def _lstm_grads(model):
    return torch.cat([p.grad.detach().flatten() for n, p in model.named_parameters()
                      if '.rnn_' in n and p.grad is not None])


def _step(model, wrapper):
    """One training step as mmengine's BaseModel.train_step does it, with the LSTM
    gradients read (unscaled) before the optimizer step."""
    with wrapper.optim_context(model):
        data = model.data_preprocessor(_batch(), True)
        losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    wrapper.backward(loss)
    if isinstance(wrapper, AmpOptimWrapper):
        wrapper.loss_scaler.unscale_(wrapper.optimizer)
    grads = _lstm_grads(model)
    wrapper.step()
    wrapper.zero_grad()
    return loss.detach(), grads


@pytest.mark.parametrize('dtype', ['float16', 'bfloat16'])
def test_amp_training_step_on_cuda(dtype):
    torch.manual_seed(0)
    model = build_model('cls').cuda().train()
    reference = copy.deepcopy(model)
    loss32, grads32 = _step(reference, OptimWrapper(
        optimizer=torch.optim.SGD(reference.parameters(), lr=0.01)))

    wrapper = AmpOptimWrapper(loss_scale='dynamic', dtype=dtype,
                              optimizer=torch.optim.SGD(model.parameters(), lr=0.01))
    # An fp16 step whose scaled gradients overflow is skipped and the scale lowered: the
    # weights stay, so the next try sees the float32 step's weights again.
    for _ in range(20):
        loss, grads = _step(model, wrapper)
        if torch.isfinite(grads).all():
            break
    assert torch.isfinite(loss), loss
    assert torch.isfinite(grads).all(), 'gradients overflowed at every loss scale tried'
    assert abs(loss.item() - loss32.item()) < 0.05 * abs(loss32.item()) + 1e-3
    cosine = torch.nn.functional.cosine_similarity(grads.float(), grads32, dim=0)
    assert cosine > 0.95, f'{dtype} LSTM gradients differ from float32 ones: cos {cosine}'
    zeros, zeros32 = (grads == 0).float().mean(), (grads32 == 0).float().mean()
    assert zeros <= zeros32 + 0.01, f'{dtype}: {zeros:.3f} of the LSTM gradients are 0 ' \
        f'(float32: {zeros32:.3f}): underflow'


@pytest.mark.parametrize('cls', [BiLSTM2D, FusedBiLSTM2D])
@pytest.mark.parametrize('dtype,rnn_dtype', [(torch.float16, torch.float16),
                                              (torch.bfloat16, torch.float32)])
def test_recurrence_dtype_under_cuda_autocast(cls, dtype, rnn_dtype):
    mixer = cls(32, 8).cuda()
    seen = []
    handles = [m.register_forward_hook(lambda m, i, o: seen.append(o[0].dtype))
               for m in (mixer.rnn_v, mixer.rnn_h)]
    x = torch.randn(2, 6, 7, 32, device='cuda', requires_grad=True)
    with torch.autocast('cuda', dtype=dtype):
        out = mixer(x)
    for h in handles:
        h.remove()
    assert seen == [rnn_dtype, rnn_dtype]
    assert out.dtype == dtype  # the fc runs in autocast's dtype
    out.float().sum().backward()
    assert torch.isfinite(x.grad).all()
    with torch.no_grad():
        torch.testing.assert_close(out.float(), mixer(x), atol=5e-2, rtol=5e-2)


def test_recipe_keeps_loss_scaled_fp16_on_cuda():
    """The IN-1K recipe's AmpOptimWrapper stays as it is on CUDA: fp16 with dynamic loss
    scaling (the CPU's bf16 substitute is not used)."""
    cfg = load_config(osp.join(REPO, 'configs', 'seq2d_s_in1k.py'))
    configure_amp(cfg, amp=False)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.optim_wrapper.get('dtype') in (None, 'float16')
    cfg = load_config(osp.join(REPO, 'tests', 'configs', 'tiny_seq2d_in1k.py'))
    configure_amp(cfg, amp=True)  # --amp
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
