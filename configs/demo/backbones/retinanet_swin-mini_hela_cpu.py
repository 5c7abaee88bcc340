# The RetinaNet demo task and recipe (../retinanet_seq2d_hela_cpu.py) with a small Swin
# Transformer (mmdet's SwinTransformer, 2 blocks per stage, 32/64/128/256 channels, 1/2/4/8
# heads, window 7; 2.3M parameters) instead of the small Sequencer2D (1.4M), on RetinaNet's
# usual pyramid: C3-C5 at strides 8/16/32 and two extra levels, anchors 32..512 px. Same data,
# head, schedule and optimiser.
# tools/analysis/compare_backbones.py --task det trains and tests it beside the others.
_base_ = '../retinanet_seq2d_hela_cpu.py'
model = dict(
    data_preprocessor=dict(pad_size_divisor=32),
    backbone=dict(
        _delete_=True, type='SwinTransformer', embed_dims=32, depths=[2, 2, 2, 2],
        num_heads=[1, 2, 4, 8], window_size=7, out_indices=(1, 2, 3), drop_path_rate=0.),
    neck=dict(in_channels=[64, 128, 256], start_level=0),
    bbox_head=dict(anchor_generator=dict(strides=[8, 16, 32, 64, 128], base_sizes=None)))
