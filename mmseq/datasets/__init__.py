"""Data sets: the real HeLa nuclei images of the demo (:mod:`mmseq.datasets.hela`), and loading
that checks a user's own data and names the file at fault (importing this package registers
``LoadSegLabels``, which needs mmseg, and ``CheckedCocoDataset``, which needs mmdet; each is
registered where its library is installed)."""
import importlib.util

__all__ = []
if importlib.util.find_spec('mmseg') is not None:
    from .transforms import LoadSegLabels  # noqa: F401
    __all__.append('LoadSegLabels')
if importlib.util.find_spec('mmdet') is not None:
    from .coco import CheckedCocoDataset  # noqa: F401
    __all__.append('CheckedCocoDataset')
