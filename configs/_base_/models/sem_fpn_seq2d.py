# Semantic FPN (Kirillov et al., 2019) on a Sequencer2D backbone (mmseg). Paper App. C.4, which
# follows MetaFormer's Semantic FPN recipe. Top-level configs set the arch and the checkpoint.
#
# The pyramid is the backbone's own: strides 7, 14, 14, 14 with 192, 384, 384, 384 channels
# (Sequencer2D downsamples only twice). Everything that assumes a stride states the real one:
#   - FPN's top-down path resizes to the next level's size (nearest), so it adds the three
#     stride-14 maps as they are and upsamples x2 exactly onto the stride-7 map;
#   - StridedFPNHead upsamples each level by (its stride / 7) = 1, 2, 2, 2;
#   - the data preprocessor pads images (0) and labels (255, ignored) to a multiple of 14,
#     so the backbone's own padding never fires and logits and labels share one grid.
custom_imports = dict(
    imports=['mmseq.models', 'mmseq.models.decode_heads', 'mmseq.engine'], allow_failed_imports=False)

norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=14,
    test_cfg=dict(size_divisor=14))
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='Sequencer2D',
        arch='s',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.),
    neck=dict(
        type='FPN',
        in_channels=[192, 384, 384, 384],
        out_channels=256,
        num_outs=4),
    decode_head=dict(
        type='StridedFPNHead',
        in_channels=[256, 256, 256, 256],
        in_index=[0, 1, 2, 3],
        feature_strides=[7, 14, 14, 14],
        # Conv depth per level of Semantic FPN's 1/4..1/32 pyramid, the head the paper used:
        # its parameter counts (Table 3: 32M/42M/58M) are those of 1/1/2/3 convs. Depth only;
        # the upsampling follows the real strides above.
        num_convs=[1, 1, 2, 3],
        channels=128,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
