# Mask R-CNN (He et al., 2017) with FPN on a Sequencer2D backbone (mmdet): mmdet's
# mask-rcnn_r50_fpn.py with the backbone swapped and every stride the heads assume set to the
# measured one. Top-level configs set the arch, drop path and the checkpoint.
#
# The pyramid, as it really is:
#   backbone   stages 0..3: strides 7, 14, 14, 14; channels 192, 384, 384, 384 (S, M, L)
#   FPN        P2..P5 from stages 0..3 (strides 7, 14, 14, 14); P6 = max-pool (kernel 1,
#              stride 2) of P5 -> stride 28 (mmdet's FPN with add_extra_convs=False)
#   RPN        anchor `strides` [7, 14, 14, 14, 28] (where the anchor centres are), `base_sizes`
#              [4, 8, 16, 32, 64] x scale 8 -> 32, 64, 128, 256, 512 px (how big they are):
#              Mask R-CNN's usual ladder, one octave per level, although three levels share
#              stride 14
#   RoIAlign   `featmap_strides` [7, 14, 14, 14] for the box (7x7) and mask (14x14) extractors:
#              spatial_scale = 1/stride on each level. RoIs still go to levels by their size
#              (finest_scale 56: < 112 px level 0, < 224 level 1, < 448 level 2, else level 3)
#   padding    to a multiple of 28, the largest stride, so every level's size is exactly
#              (padded input) / stride and the backbone's own padding (to 14) never fires.
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'
custom_imports = dict(imports=['mmseq.models', 'mmseq.engine'], allow_failed_imports=False)

strides = [7, 14, 14, 14]
model = dict(
    data_preprocessor=dict(pad_size_divisor=28),
    backbone=dict(
        _delete_=True,
        type='Sequencer2D',
        arch='s',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.1),
    neck=dict(in_channels=[192, 384, 384, 384]),
    rpn_head=dict(
        anchor_generator=dict(strides=strides + [28], base_sizes=[4, 8, 16, 32, 64])),
    roi_head=dict(
        bbox_roi_extractor=dict(featmap_strides=strides),
        mask_roi_extractor=dict(featmap_strides=strides)))
