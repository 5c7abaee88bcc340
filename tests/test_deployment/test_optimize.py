"""Optimised and INT8 files (pytorch2onnx.py --optimize --int8 --calibrate, onnx_quantize.py):
smaller, quantized where asked (MatMul and LSTM dynamically, Conv statically from calibration
images), with the exported file's metadata, and close to FP32."""
import mmcv
import numpy as np
import onnx
import pytest
import torch

from helpers import config_file, load_tool
from mmseq.apis import init_model
from mmseq.deployment.runtime import OnnxModel
from mmseq.deployment.verify import example_image


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('int8')
    cfg = config_file('tiny_sem_fpn_ade20k.py')
    torch.manual_seed(0)
    model = init_model(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    ckpt = str(tmp / 'model.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    calibration = tmp / 'calibration'
    for seed in range(3):
        mmcv.imwrite(example_image(90, 120, seed), str(calibration / f'{seed}.png'))
    out = str(tmp / 'model.onnx')
    load_tool('tools/deployment/pytorch2onnx.py').main(
        [cfg, ckpt, '--shape', '56', '84', '--out', out, '--optimize', '--int8',
         '--calibrate', str(calibration)])
    return tmp, out


def _ops(path):
    return {n.op_type for n in onnx.load(path).graph.node}


def test_int8_and_optimized_files(exported):
    tmp, fp32 = exported
    int8, opt = str(tmp / 'model_int8.onnx'), str(tmp / 'model_opt.onnx')
    ops = _ops(int8)
    assert {'MatMulInteger', 'DynamicQuantizeLSTM', 'DynamicQuantizeLinear',
            'QuantizeLinear', 'DequantizeLinear', 'Conv'} <= ops  # Conv between Q/DQ pairs
    assert 'LSTM' not in ops and 'ConvInteger' not in ops
    size = {p: len(open(p, 'rb').read()) for p in (fp32, int8)}
    assert size[int8] < 0.8 * size[fp32]  # a tiny model: biases and norms stay FP32
    int8_weights = [t for t in onnx.load(int8).graph.initializer
                    if t.data_type == onnx.TensorProto.INT8 and len(t.dims) >= 2]
    assert len(int8_weights) >= 10
    # every Conv reads QDQ weights but the first, the patch embedding on the image (FP32)
    graph = onnx.load(int8).graph
    dequantized = {n.output[0] for n in graph.node if n.op_type == 'DequantizeLinear'}
    float_weights = {t.name for t in graph.initializer if t.data_type == onnx.TensorProto.FLOAT}
    convs = [n for n in graph.node if n.op_type == 'Conv']
    assert convs[0].input[1] in float_weights and convs[0].input[0] not in dequantized
    assert len(convs) > 5 and all(c.input[1] in dequantized for c in convs[1:])
    meta = {p.key for p in onnx.load(fp32).metadata_props}
    for path in (int8, opt):
        assert meta <= {p.key for p in onnx.load(path).metadata_props}
    image = example_image(120, 150)
    ref = OnnxModel(fp32).predict(image)
    for path in (opt, int8):
        got = OnnxModel(path).predict(image)  # the full-stack runtime reads them as exported
        agree = (got.pred_sem_seg.data == ref.pred_sem_seg.data).float().mean()
        # random weights, 150 classes of near-equal scores: INT8 moves some argmaxes (the
        # accuracy of a trained model is measured by onnx_benchmark.py --eval)
        assert agree >= (0.9999 if path == opt else 0.7), (path, agree)
    out = OnnxModel(fp32).run(np.zeros((1, 3, 56, 84), np.float32))['logits']
    out8 = OnnxModel(int8).run(np.zeros((1, 3, 56, 84), np.float32))['logits']
    assert 0 < np.abs(out8 - out).max() < 0.5 * np.abs(out).max()  # quantized, not broken


def test_quantize_tool_dynamic_conv(exported, tmp_path, capsys):
    """Without calibration images the convolutions stay FP32, unless asked for dynamically."""
    _, fp32 = exported
    load_tool('tools/deployment/onnx_quantize.py').main(
        [fp32, '--out-dir', str(tmp_path), '--no-optimize'])
    assert 'model_int8.onnx' in capsys.readouterr().out
    ops = _ops(str(tmp_path / 'model_int8.onnx'))
    assert 'DynamicQuantizeLSTM' in ops and 'Conv' in ops and 'QuantizeLinear' not in ops
    load_tool('tools/deployment/onnx_quantize.py').main(
        [fp32, '--out-dir', str(tmp_path), '--int8-ops', 'Conv', '--no-optimize'])
    ops = _ops(str(tmp_path / 'model_int8.onnx'))
    assert 'ConvInteger' in ops and 'LSTM' in ops and 'MatMulInteger' not in ops
    with pytest.raises(SystemExit):
        load_tool('tools/deployment/onnx_quantize.py').main([str(tmp_path / 'missing.onnx')])
