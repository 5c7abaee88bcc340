# The demo's task and recipe (../sem_fpn_seq2d_hela_cpu.py) with a small Swin Transformer
# (mmseg's SwinTransformer, 2 blocks per stage, 32/64/128/256 channels, 1/2/4/8 heads, window
# 7, strides 4/8/16/32; 2.3M parameters) instead of the small Sequencer2D (1.4M): the same
# Semantic FPN neck and head, data, schedule and optimiser.
# tools/analysis/compare_backbones.py trains and tests it beside the others.
_base_ = '../sem_fpn_seq2d_hela_cpu.py'
model = dict(
    data_preprocessor=dict(size_divisor=32, test_cfg=dict(size_divisor=32)),
    backbone=dict(
        _delete_=True, type='SwinTransformer', embed_dims=32, depths=[2, 2, 2, 2],
        num_heads=[1, 2, 4, 8], window_size=7, out_indices=(0, 1, 2, 3), drop_path_rate=0.),
    neck=dict(in_channels=[32, 64, 128, 256]),
    decode_head=dict(feature_strides=[4, 8, 16, 32]))
