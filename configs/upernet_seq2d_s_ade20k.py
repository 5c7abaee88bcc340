# UperNet with Sequencer2D-S on ADE20K with Swin's and ConvNeXt's recipe: 512x512 crops,
# 160k iterations at a total batch of 16 (8 GPUs x 2), AdamW 6e-5 (weight decay 0.01, none on
# the backbone's norms), 1500 warm-up iterations then poly (power 1.0), FCN auxiliary head on
# stage 2; mIoU at the 2048x512 scale (single-scale), and multi-scale + flip:
#   tools/dist_train.sh configs/upernet_seq2d_s_ade20k.py 8
#   tools/dist_test.sh  configs/upernet_seq2d_s_ade20k.py    CKPT 8   # single-scale mIoU
#   tools/dist_test.sh  configs/upernet_seq2d_s_ade20k_ms.py CKPT 8   # multi-scale + flip
# (mmseg's own tools/test.py CONFIG CKPT --tta runs the same multi-scale test from
# tta_model / tta_pipeline below.)

# The IN-1K classifier weights, by timm:// name (the public timm/sequencer2d_s.in1k weights,
# fetched into the Hugging Face hub cache on first use and converted to the layout of the
# configs/seq2d_s_in1k.py classifier; docs/tools.md), as the Semantic FPN / RetinaNet configs
# take them. A checkpoint file of that classifier works the same. Its keys start with
# "backbone.", which the prefix strips.
pretrained = 'timm://sequencer2d_s.in1k'

_base_ = [
    './_base_/models/upernet_seq2d.py',
    './_base_/datasets/ade20k_512.py',
    './_base_/schedules/seg_adamw_poly_160k.py',
    './_base_/default_runtime_seg.py',
]
model = dict(
    backbone=dict(
        arch='s',
        # Stochastic depth of the IN-1K training (paper Table 6: S/M/L 0.1/0.2/0.4).
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')))
# 2 images per GPU (mmseg's ADE20K base has 4): a total batch of 16 on 8 GPUs.
train_dataloader = dict(batch_size=2)

# Multi-scale + flip test as Swin / ConvNeXt report it (mmseg 0.x's MultiScaleFlipAug with
# img_scale=(2048, 512) and these ratios): the 2048x512 test scale times each ratio, each
# scale with and without a horizontal flip, softmax scores averaged (mmseg's SegTTAModel,
# tta_model in the runtime). mmseg 1.x's ade20k.py instead resizes the original image by the
# ratio (scale_factor), which differs for images whose short side is not 512.
test_scale = (2048, 512)
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale=(int(test_scale[0] * r), int(test_scale[1] * r)),
                  keep_ratio=True) for r in img_ratios],
            [dict(type='RandomFlip', prob=0., direction='horizontal'),
             dict(type='RandomFlip', prob=1., direction='horizontal')],
            # the labels, checked; an image without them (inference) passes through. The
            # Inferencers remove only a top-level LoadAnnotations, not one in TestTimeAug.
            [dict(type='mmseq.LoadSegLabels', num_classes=150)],
            [dict(type='PackSegInputs')],
        ])
]
