# Mask R-CNN with Sequencer2D-S on COCO with Swin's / ConvNeXt's 3x recipe
# (mmdet's swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py): 36 epochs, lr x0.1 after
# epochs 27 and 33, multi-scale training (short side 480..800, max 1333) with DETR's random
# crop branch; otherwise mask_rcnn_seq2d_s_coco.py (model, optimizer, test at 1333x800).
#   tools/dist_train.sh configs/mask_rcnn_seq2d_s_coco_3x.py 8
_base_ = './mask_rcnn_seq2d_s_coco.py'

# Half of the batches: one of 11 short sides 480..800 (long side <= 1333); the other half:
# short side 400/500/600, a random 384..600 crop, then one of the 11 short sides.
ms_scales = [(s, 1333) for s in range(480, 801, 32)]
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomChoice',
        transforms=[
            [dict(type='RandomChoiceResize', scales=ms_scales, keep_ratio=True)],
            [
                dict(type='RandomChoiceResize', scales=[(400, 1333), (500, 1333), (600, 1333)],
                     keep_ratio=True),
                dict(type='RandomCrop', crop_type='absolute_range', crop_size=(384, 600),
                     allow_negative_crop=True),
                dict(type='RandomChoiceResize', scales=ms_scales, keep_ratio=True),
            ],
        ]),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[27, 33],
         gamma=0.1),
]
