# configs/retinanet_seq2d_s_coco.py with the tiny arch, a 16-channel FPN and head, ~84x112 px
# images, no worker processes; data from tools/misc/make_synthetic_data.py coco (set data_root
# and the evaluator's ann_file with --cfg-options, see .dev_scripts/stress_dist.sh).
_base_ = ['../../configs/retinanet_seq2d_s_coco.py', './_tiny_backbone.py']

data_root = 'data/tiny/coco/'
model = dict(
    backbone={{_base_.tiny_backbone}},
    neck=dict(in_channels=[32, 32, 32], out_channels=16),
    bbox_head=dict(in_channels=16, feat_channels=16, stacked_convs=1),
    # an untrained RetinaNet scores below the default 0.05: keep every box
    test_cfg=dict(score_thr=0.0))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(112, 84), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(112, 84), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
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
