# A tiny mmpretrain Swin classifier (2 stages, 10 classes, random init) for the ERF test of
# (B, L, C) token blocks.
_base_ = ['mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
          'mmpretrain::_base_/default_runtime.py']

data_preprocessor = dict(num_classes=10)
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='SwinTransformer',
        arch=dict(embed_dims=16, depths=[1, 1], num_heads=[1, 2]),
        img_size=112,
        out_indices=(1, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=32))
