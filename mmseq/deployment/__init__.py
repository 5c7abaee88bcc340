"""ONNX export of mmseq's models and their inference on onnxruntime (docs/deployment.md)."""
from .export import DEFAULT_OPSET, build_graph, export, export_onnx
from .graphs import ExportError

__all__ = ['DEFAULT_OPSET', 'ExportError', 'build_graph', 'export', 'export_onnx']
