# UperNet (Xiao et al., 2018) on a Sequencer2D backbone (mmseg): mmseg's UperNet base as Swin
# and ConvNeXt use it (UPerHead, 512 channels, pyramid pooling 1/2/3/6 on the last stage; FCN
# auxiliary head on stage 2 with loss weight 0.4; SyncBN), with the backbone swapped.
# Top-level configs set the arch, drop path and the checkpoint.
#
# The pyramid is the backbone's own: strides 7, 14, 14, 14 with 192, 384, 384, 384 channels
# (S, M and L alike). Nothing in UperNet assumes a stride; what it relies on holds:
#   - UPerHead's top-down path resizes each level onto the size of the level below it, so the
#     stride-14 maps of stages 3, 2, 1 are added as they are (a resize to the same size is the
#     identity) and the sum is upsampled exactly x2 onto stage 0's stride-7 grid; all four
#     levels are then fused at stride 7, where the logits are;
#   - the auxiliary FCN head reads stage 2 (in_index=2: stride 14, 384 channels);
#   - the data preprocessor pads images (0) and labels (255, ignored) to a multiple of 14, so
#     the backbone's own padding never fires and logits and labels share one grid.
_base_ = 'mmseg::_base_/models/upernet_swin.py'
custom_imports = dict(imports=['mmseq.models', 'mmseq.engine', 'mmseq.datasets'],
                      allow_failed_imports=False)

# mmseg's base keeps the preprocessor in a top-level variable too (the Runner's default): both
# get the padding.
data_preprocessor = dict(size_divisor=14, test_cfg=dict(size_divisor=14))
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        _delete_=True,
        type='Sequencer2D',
        arch='s',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.1),
    decode_head=dict(in_channels=[192, 384, 384, 384], in_index=[0, 1, 2, 3], num_classes=150),
    auxiliary_head=dict(in_channels=384, in_index=2, num_classes=150))
