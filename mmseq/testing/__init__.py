"""Small generated data sets in the on-disk layouts of ImageNet, ADE20K and COCO, for tests,
the demo and ``tools/misc/make_synthetic_data.py``."""
from .synthetic_data import class_colour, coco_categories, make_ade20k, make_coco, make_imagenet

__all__ = ['class_colour', 'coco_categories', 'make_ade20k', 'make_coco', 'make_imagenet']
