"""Data sets: the real HeLa nuclei images of the demo (:mod:`mmseq.datasets.hela`), and loading
that checks a user's own data and names the file at fault (importing this package registers
``mmseq.LoadSegLabels`` and ``mmseq.CheckedCocoDataset``)."""
from .coco import CheckedCocoDataset
from .transforms import LoadSegLabels

__all__ = ['CheckedCocoDataset', 'LoadSegLabels']
