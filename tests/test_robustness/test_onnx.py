"""ONNX export (tools/deployment/pytorch2onnx.py): backbone feature maps and classifier
logits, run with onnxruntime, equal to PyTorch within 1e-4, at square and odd sizes, batch,
height and width dynamic; --verify. Whole segmentors and detectors: tests/test_deployment."""
import numpy as np
import pytest
import torch

from helpers import load_tool, write_cls_train_config
from mmseq.apis import init_model

ATOL = 1e-4


@pytest.fixture(scope='module')
def tool():
    return load_tool('tools/deployment/pytorch2onnx.py')


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A config and a checkpoint with non-trivial weights (init noise scaled up), saved the
    way tools/train.py saves (a 'state_dict' entry)."""
    tmp = tmp_path_factory.mktemp('onnx')
    # All four stage outputs (the classifier's head reads the last one).
    cfg = write_cls_train_config(tmp / 'cls.py', str(tmp / 'unused'),
                                 **{'model.backbone.out_indices': (0, 1, 2, 3)})
    model = init_model(cfg)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    ckpt = tmp / 'model.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    return cfg, str(ckpt), model


def _run_onnx(path, x):
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    assert [i.name for i in sess.get_inputs()] == ['input']
    return sess.run(None, {'input': x.numpy()}), [o.name for o in sess.get_outputs()]


@pytest.mark.parametrize('shape', [(98, 126)])  # 112x112 is covered by the backbone test
def test_classifier_logits(tool, trained, tmp_path, shape):
    cfg, ckpt, model = trained
    out = str(tmp_path / 'cls.onnx')
    tool.main([cfg, ckpt, '--shape', *map(str, shape), '--out', out, '--verify'])
    x = torch.randn(1, 3, *shape)
    (logits, ), names = _run_onnx(out, x)
    with torch.no_grad():
        ref = model.head(model.extract_feat(x))  # the fused mixer, as trained
    assert names == ['logits'] and logits.shape == (1, 4)
    assert model.backbone.stages[0].blocks[0].token_mixer.__class__.__name__ == 'FusedBiLSTM2D'
    np.testing.assert_allclose(logits, ref.numpy(), atol=ATOL, rtol=0)
    assert ref.abs().max() > 0.1  # not a trivially small output


@pytest.mark.parametrize('shape', [(112, 112), (98, 126)])
def test_backbone_feature_maps(tool, trained, tmp_path, shape):
    cfg, ckpt, model = trained
    out = str(tmp_path / 'backbone.onnx')
    tool.main([cfg, ckpt, '--shape', *map(str, shape), '--out', out, '--backbone-only'])
    x = torch.randn(1, 3, *shape)
    got, names = _run_onnx(out, x)
    with torch.no_grad():
        ref = model.backbone(x)
    assert names == ['out0', 'out1', 'out2', 'out3']
    h7, w7 = -(-shape[0] // 14) * 2, -(-shape[1] // 14) * 2  # padded to 14, stride 7
    assert got[0].shape == (1, 16, h7, w7) and got[3].shape == (1, 32, h7 // 2, w7 // 2)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r.numpy(), atol=ATOL, rtol=0)


def test_backbone_axes_are_dynamic(tool, trained, tmp_path, capsys):
    cfg, ckpt, model = trained
    out = str(tmp_path / 'backbone.onnx')
    tool.main([cfg, ckpt, '--shape', '98', '126', '--out', out, '--backbone-only', '--verify'])
    assert 'max abs difference' in capsys.readouterr().out
    x = torch.randn(3, 3, 61, 45)  # another batch and size than traced
    got, _ = _run_onnx(out, x)
    with torch.no_grad():
        ref = model.backbone(x)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r.numpy(), atol=ATOL, rtol=0)


def test_export_rejects_bad_arguments(tool, trained, tmp_path):
    cfg, ckpt, _ = trained
    with pytest.raises(SystemExit):
        tool.main([cfg, str(tmp_path / 'missing.pth'), '--out', str(tmp_path / 'm.onnx')])
    with pytest.raises(SystemExit):
        tool.main([cfg, '--shape', '0', '28', '--out', str(tmp_path / 'm.onnx')])
    with pytest.raises(ValueError, match='smaller than one 7x7'):
        tool.main([cfg, '--shape', '5', '28', '--out', str(tmp_path / 'm.onnx')])


def test_verify_without_checkpoint_compares_the_exported_weights(tool, trained, tmp_path,
                                                                 capsys):
    cfg, _, _ = trained  # random weights: PyTorch must be given the exported ones
    tool.main([cfg, '--shape', '56', '56', '--out', str(tmp_path / 'm.onnx'), '--verify'])
    assert 'ok' in capsys.readouterr().out
