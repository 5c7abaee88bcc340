"""Segmentation heads (need mmsegmentation; kept out of ``mmseq.models`` so the backbone and
classification keep working without it). Configs import this module via ``custom_imports``."""
from .strided_fpn_head import StridedFPNHead

__all__ = ['StridedFPNHead']
