"""The traceable steps of mmseq.deployment.ops equal the eager OpenMMLab code they stand for,
and stay right in an exported graph at sizes other than the traced one."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from mmseq.deployment.ops import (ShapeFreeAdaptiveAvgPool2d, batched_nms, pad_to_divisor,
                                  replace_adaptive_pools, topk_padded)


@pytest.mark.parametrize('size', [(6, 6), (7, 11), (1, 3), (13, 5)])
@pytest.mark.parametrize('bins', [1, 2, 3, 6])
def test_adaptive_pool_equals_pytorch(size, bins):
    x = torch.randn(2, 4, *size)
    torch.testing.assert_close(ShapeFreeAdaptiveAvgPool2d(bins)(x),
                               nn.AdaptiveAvgPool2d(bins)(x), atol=1e-6, rtol=1e-5)


def test_replace_adaptive_pools_keeps_global_pooling():
    model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Sequential(nn.AdaptiveAvgPool2d(3)))
    assert replace_adaptive_pools(model) == 1
    assert isinstance(model[0], nn.AdaptiveAvgPool2d)
    assert isinstance(model[1][0], ShapeFreeAdaptiveAvgPool2d)


def test_topk_padded_keeps_every_real_score():
    scores = torch.tensor([0.3, 0.9, 0.1])
    top, index = topk_padded(scores, 5)
    real = top > -1
    assert top[real].tolist() == pytest.approx([0.9, 0.3, 0.1])
    assert index[real].tolist() == [1, 0, 2]


def test_batched_nms_equals_mmcv():
    from mmcv.ops import batched_nms as mmcv_batched_nms
    torch.manual_seed(0)
    xy = torch.rand(300, 2) * 100
    boxes = torch.cat([xy, xy + torch.rand(300, 2) * 40 + 1], 1)
    scores, labels = torch.rand(300), torch.randint(0, 5, (300, ))
    _, ref = mmcv_batched_nms(boxes, scores, labels, dict(type='nms', iou_threshold=0.5))
    assert batched_nms(boxes, scores, labels, 0.5).tolist() == ref.tolist()


def test_padding_and_pooling_follow_the_input_size_in_onnx(tmp_path):
    import onnxruntime as ort

    class Net(nn.Module):
        def forward(self, x):
            x = pad_to_divisor(x, 14, value=-1.)
            return x, ShapeFreeAdaptiveAvgPool2d(3)(x)

    path = str(tmp_path / 'net.onnx')
    torch.onnx.export(Net(), (torch.randn(1, 2, 30, 20), ), path, input_names=['x'],
                      dynamic_axes={'x': {0: 'b', 2: 'h', 3: 'w'}}, opset_version=17,
                      dynamo=False)
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    for size in [(28, 28), (31, 45), (5, 70)]:
        x = torch.randn(2, 2, *size)
        padded, pooled = session.run(None, {'x': x.numpy()})
        ref = Net()(x)
        assert padded.shape == tuple(ref[0].shape) and padded.shape[2] % 14 == 0
        np.testing.assert_allclose(padded, ref[0].numpy(), atol=0, rtol=0)
        np.testing.assert_allclose(pooled, nn.AdaptiveAvgPool2d(3)(ref[0]).numpy(), atol=1e-5)


def test_per_class_nms_equals_mmdet_multiclass_nms():
    from mmdet.models.layers import multiclass_nms

    from mmseq.deployment.ops import per_class_nms
    torch.manual_seed(0)
    n, c = 200, 6
    xy = torch.rand(n, c, 2) * 100
    boxes = torch.cat([xy, xy + torch.rand(n, c, 2) * 40 + 1], 2)  # (N, C, 4)
    scores = torch.rand(n, c).softmax(-1)
    ref, ref_labels = multiclass_nms(boxes.reshape(n, -1), torch.cat([scores, scores[:, :1]], 1),
                                     0.05, dict(type='nms', iou_threshold=0.5), max_num=-1)
    labels, roi = per_class_nms(boxes, scores, 0.5, 0.05)
    got = scores[roi, labels]
    order = got.argsort(descending=True)
    torch.testing.assert_close(got[order], ref[:, 4])
    torch.testing.assert_close(boxes[roi, labels][order], ref[:, :4])
    assert labels[order].tolist() == ref_labels.tolist()
