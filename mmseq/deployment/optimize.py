"""Smaller and faster ONNX files for CPUs: onnxruntime's offline graph optimisation and its
dynamic INT8 quantization (``onnxruntime.quantization.quantize_dynamic``).

Dynamic quantization stores the weights of the chosen operators as INT8 and quantizes their
inputs to UINT8 at run time, image by image; it needs no calibration data. onnxruntime runs
dynamically quantized ``MatMul`` and ``LSTM`` faster than FP32, but its dynamic ``Conv``
(``ConvInteger``) several times slower than its FP32 ``Conv``; so convolutions are quantized
statically (QDQ, per output channel, ranges from calibration images run through the graph),
which onnxruntime runs as ``QLinearConv``, when calibration images are given, and stay FP32
otherwise. The convolution that reads the image (the patch embedding) always stays FP32: on
the HeLa RetinaNet, quantizing it alone cost about 10 points of box AP, all the other
convolutions together less than one. The files keep the exported file's ``mmseq.*``
metadata, so every runtime (``OnnxModel``, ``tools/deployment/ort_serve.py``) opens them as
it opens the FP32 file.
"""
import os
import os.path as osp
import shutil
import tempfile
from typing import Dict, List, Optional, Sequence

# Operators quantized dynamically by default: the Linear layers (MatMul: the channel MLPs, the
# LSTMs' fusion layers) and the LSTMs. 'Conv' here means ConvInteger (slow); give calibration
# images instead for QLinearConv.
DEFAULT_INT8_OPS = ('MatMul', 'LSTM')
INT8_OPS = ('MatMul', 'LSTM', 'Conv', 'Gemm')
LEVELS = ('basic', 'extended', 'all')


def _metadata(path: str) -> Dict[str, str]:
    import onnx
    return {p.key: p.value for p in onnx.load(path, load_external_data=False).metadata_props}


def _set_metadata(path: str, metadata: Dict[str, str]) -> None:
    import onnx
    proto = onnx.load(path)
    existing = {p.key for p in proto.metadata_props}
    for key, value in metadata.items():
        if key not in existing:
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
    onnx.save(proto, path)


def optimize(src: str, dst: str, level: str = 'extended') -> str:
    """Write ``src`` after onnxruntime's graph optimisations of ``level`` (``basic``: constant
    folding, redundant nodes; ``extended``: also operator fusions; ``all``: also the CPU's
    memory layouts, which ties the file to this CPU type) to ``dst``."""
    import onnxruntime as ort
    if level not in LEVELS:
        raise ValueError(f'level must be one of {LEVELS}, got {level!r}')
    options = ort.SessionOptions()
    options.graph_optimization_level = {
        'basic': ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        'extended': ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        'all': ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[level]
    options.optimized_model_filepath = dst
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    ort.InferenceSession(src, options, providers=['CPUExecutionProvider'])
    _set_metadata(dst, _metadata(src))
    return dst


def calibration_batches(src: str, images: Sequence[str], limit: int = 8) -> List[dict]:
    """Graph inputs of up to ``limit`` images (files or folders) through the file's own test
    pipeline (:class:`~mmseq.deployment.runtime.OnnxModel`), as ``{input name: batch}``."""
    from .runtime import OnnxModel, expand_images
    files = expand_images(list(images))
    if not files:
        raise ValueError(f'no calibration images in {list(images)}')
    files = files[::max(1, len(files) // limit)][:limit]  # spread over the folder
    model = OnnxModel(src)
    name = model.session.get_inputs()[0].name
    return [{name: model.load(f)['inputs'].float().numpy()[None]} for f in files]


def image_conv(path: str) -> List[str]:
    """The name of the first ``Conv`` of the graph, the one on the (normalised) image; empty
    when there is none."""
    import onnx
    graph = onnx.load(path, load_external_data=False).graph
    return next(([node.name] for node in graph.node if node.op_type == 'Conv'), [])


def quantize_int8(src: str, dst: str, op_types: Sequence[str] = DEFAULT_INT8_OPS,
                  calibration: Sequence[str] = (), calibration_limit: int = 8) -> str:
    """Write the INT8 version of ``src`` to ``dst``: with ``calibration`` images, the
    convolutions quantized statically (QDQ, per channel); then the weights of ``op_types``
    quantized dynamically; the convolution on the image stays FP32. onnxruntime's
    pre-processing (shape inference, basic optimisation) comes first."""
    import logging

    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_dynamic, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process
    unknown = sorted(set(op_types) - set(INT8_OPS))
    if unknown or not (op_types or calibration):
        raise ValueError(f'op_types must be some of {INT8_OPS}, got {list(op_types)}')
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    quiet = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # the quantizer's advice lines
    try:
        with tempfile.TemporaryDirectory() as tmp:
            current = osp.join(tmp, 'prepared.onnx')
            quant_pre_process(src, current, skip_symbolic_shape=True)
            if calibration:
                batches = iter(calibration_batches(src, calibration, calibration_limit))

                class Reader(CalibrationDataReader):
                    def get_next(self):
                        return next(batches, None)

                static = osp.join(tmp, 'static.onnx')
                quantize_static(current, static, Reader(), quant_format=QuantFormat.QDQ,
                                op_types_to_quantize=['Conv'], per_channel=True,
                                nodes_to_exclude=image_conv(current),
                                activation_type=QuantType.QUInt8,
                                weight_type=QuantType.QInt8)
                current = static
            ops = [op for op in op_types if not (calibration and op == 'Conv')]
            if ops:
                quantize_dynamic(current, dst, op_types_to_quantize=ops,
                                 weight_type=QuantType.QInt8)
            else:
                shutil.copyfile(current, dst)
    finally:
        logging.getLogger().setLevel(quiet)
    _set_metadata(dst, _metadata(src))
    return dst


def variants(src: str, out_dir: Optional[str] = None, int8: bool = True,
             optimized: bool = True, op_types: Sequence[str] = DEFAULT_INT8_OPS,
             level: str = 'extended', calibration: Sequence[str] = ()) -> Dict[str, str]:
    """``{'optimized': MODEL_opt.onnx, 'int8': MODEL_int8.onnx}`` next to ``src`` (or in
    ``out_dir``), the ones asked for."""
    stem = osp.splitext(osp.basename(src))[0]
    folder = out_dir or osp.dirname(osp.abspath(src))
    out = {}
    if optimized:
        out['optimized'] = optimize(src, osp.join(folder, f'{stem}_opt.onnx'), level)
    if int8:
        out['int8'] = quantize_int8(src, osp.join(folder, f'{stem}_int8.onnx'), op_types,
                                    calibration)
    return out
