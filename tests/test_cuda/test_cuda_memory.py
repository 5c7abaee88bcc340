"""Peak CUDA memory of a Sequencer2D-S training step: the default (fused) mixer needs no more
than the ``nn.LSTM`` reference, and not much more than timm's ``sequencer2d_s``."""
import pytest
import torch
import torch.nn as nn

from mmseq.models.backbones.sequencer2d import Sequencer2D

pytestmark = pytest.mark.cuda


class _Classifier(nn.Module):
    def __init__(self, impl):
        super().__init__()
        self.backbone = Sequencer2D('s', mixer_impl=impl)
        self.head = nn.Linear(self.backbone.embed_dims[-1], 1000)

    def forward(self, x):
        return self.head(self.backbone(x)[-1].mean((2, 3)))


def _peak_step_bytes(model, batch=8, size=224):
    """Peak allocation of one forward/backward/SGD step above what is held before it."""
    device = torch.device('cuda', torch.cuda.current_device())
    model = model.to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-6, momentum=0.9)
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 1000, (batch, ), device=device)

    def step():
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    step()  # momentum buffers and cuDNN workspaces exist from here on
    opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize(device)
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    step()
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device) - base
    del model, opt, x, y
    torch.cuda.empty_cache()
    return peak


def test_training_step_peak_memory_not_above_reference():
    torch.manual_seed(0)
    fused = _peak_step_bytes(_Classifier('fused'))
    reference = _peak_step_bytes(_Classifier('reference'))
    timm = pytest.importorskip('timm')
    timm_peak = _peak_step_bytes(timm.create_model('sequencer2d_s', pretrained=False))
    mb = 2 ** 20
    print(f'peak extra MB of a training step (8 x 224 px): fused {fused / mb:.0f}, '
          f'reference {reference / mb:.0f}, timm {timm_peak / mb:.0f}')
    assert fused <= reference * 1.01 + mb, (fused / mb, reference / mb)
    assert fused <= timm_peak * 1.10, (fused / mb, timm_peak / mb)
