# A tiny mmpretrain ConvNeXt classifier (10 classes, random init), compared with the tiny
# Sequencer2D by the analysis tool tests.
_base_ = ['mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
          'mmpretrain::_base_/default_runtime.py']

data_preprocessor = dict(num_classes=10)
model = dict(
    type='ImageClassifier',
    backbone=dict(type='ConvNeXt', arch=dict(depths=[1, 1, 1, 1], channels=[8, 16, 16, 16])),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=16))
