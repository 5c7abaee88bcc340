# A tiny mmpretrain ViT classifier (2 layers, 10 classes, random init), compared with the tiny
# Sequencer2D by the ERF tool test.
_base_ = ['mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
          'mmpretrain::_base_/default_runtime.py']

data_preprocessor = dict(num_classes=10)
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64),
        img_size=112,
        patch_size=16),
    head=dict(type='VisionTransformerClsHead', num_classes=10, in_channels=32))
