"""The detection ops RetinaNet needs, on CUDA: mmcv's ``nms`` (CUDA kernel vs its CPU kernel)
and mmdet's ``FocalLoss``, which on CUDA tensors calls mmcv's ``sigmoid_focal_loss`` kernel and
on CPU its PyTorch formula: both must agree, forward and backward."""
import pytest
import torch

pytestmark = pytest.mark.cuda


def _boxes(n=200, seed=0):
    gen = torch.Generator().manual_seed(seed)
    # crowded: at IoU 0.3 / 0.5 / 0.7 the CPU kernel keeps 26 / 73 / 163 of the 200
    xy = torch.rand(n, 2, generator=gen) * 40
    wh = torch.rand(n, 2, generator=gen) * 20 + 10
    return torch.cat([xy, xy + wh], 1), torch.rand(n, generator=gen)


@pytest.mark.parametrize('iou', [0.3, 0.5, 0.7])
def test_nms_cuda_matches_cpu(iou):
    from mmcv.ops import nms
    boxes, scores = _boxes()
    dets_cpu, keep_cpu = nms(boxes, scores, iou)
    dets_cuda, keep_cuda = nms(boxes.cuda(), scores.cuda(), iou)
    assert keep_cuda.is_cuda
    assert 0 < len(keep_cpu) < len(boxes)  # something was suppressed, something kept
    assert torch.equal(keep_cuda.cpu(), keep_cpu)
    torch.testing.assert_close(dets_cuda.cpu(), dets_cpu)


def test_focal_loss_cuda_kernel_matches_cpu_formula():
    from mmdet.models.losses import FocalLoss
    loss_fn = FocalLoss(use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0)
    gen = torch.Generator().manual_seed(0)
    num_classes = 80
    pred = torch.randn(300, num_classes, generator=gen) * 3
    # labels in [0, num_classes]; num_classes is the background (mmdet's convention)
    target = torch.randint(0, num_classes + 1, (300, ), generator=gen)
    weight = torch.rand(300, generator=gen)
    results = []
    for device in ('cpu', 'cuda'):
        p = pred.to(device).requires_grad_(True)
        loss = loss_fn(p, target.to(device), weight.to(device), avg_factor=37.0)
        loss.backward()
        results.append((loss.detach().cpu(), p.grad.cpu()))
    (loss_cpu, grad_cpu), (loss_cuda, grad_cuda) = results
    assert torch.isfinite(loss_cpu) and loss_cpu > 0
    torch.testing.assert_close(loss_cuda, loss_cpu, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grad_cuda, grad_cpu, atol=1e-6, rtol=1e-4)
