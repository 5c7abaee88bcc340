# configs/mask_rcnn_seq2d_s_coco.py with the tiny arch, 16-channel FPN, RPN and RoI heads,
# ~84x112 px images, no worker processes; data from tools/misc/make_synthetic_data.py coco
# (set data_root and the evaluators' ann_file with --cfg-options).
_base_ = ['../../configs/mask_rcnn_seq2d_s_coco.py', './_tiny_backbone.py']

data_root = 'data/tiny/coco/'
model = dict(
    backbone={{_base_.tiny_backbone}},
    neck=dict(in_channels=[16, 32, 32, 32], out_channels=16),
    rpn_head=dict(in_channels=16, feat_channels=16),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=16),
        bbox_head=dict(in_channels=16, fc_out_channels=32),
        mask_roi_extractor=dict(out_channels=16),
        mask_head=dict(num_convs=1, in_channels=16, conv_out_channels=16)),
    # fewer proposals and samples for tiny images and CPU time
    train_cfg=dict(rpn_proposal=dict(nms_pre=200, max_per_img=100),
                   rcnn=dict(sampler=dict(num=64))),
    # an untrained box head scores every class near 1/81, below the default 0.05: keep them
    # (50 proposals x 80 classes go through one NMS), at most 20 boxes and masks per image
    test_cfg=dict(rpn=dict(nms_pre=200, max_per_img=50),
                  rcnn=dict(score_thr=0.0, max_per_img=20)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(112, 84), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(112, 84), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
_loader = dict(num_workers=0, persistent_workers=False)
train_dataloader = dict(**_loader, dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(**_loader, dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=1)
default_hooks = dict(logger=dict(interval=1))
randomness = dict(seed=0)
