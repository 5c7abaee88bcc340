# RetinaNet + Sequencer2D-S on a small CPU machine: every override of the real config
# configs/retinanet_seq2d_s_coco.py sits in this file.
#   tools/dist_train.sh configs/demo/retinanet_seq2d_s_coco_cpu.py 2   (gloo, 2 processes)
#   tools/dist_test.sh  configs/demo/retinanet_seq2d_s_coco_cpu.py CKPT 2
_base_ = '../retinanet_seq2d_s_coco.py'

# Generated data (tools/misc/make_synthetic_data.py coco data/demo/coco), COCO layout.
data_root = 'data/demo/coco/'
scale = (448, 280)  # instead of (1333, 800): CPU time
max_epochs = 1

model = dict(
    # No IN-1K checkpoint on this machine: a random init is trained instead.
    backbone=dict(init_cfg=None),
    # An untrained RetinaNet scores every box far below 0.05, and CocoMetric then reports
    # nothing at all; keep low-scoring boxes so a short run still yields a (tiny) AP.
    test_cfg=dict(score_thr=0.0))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline,
                 filter_cfg=dict(filter_empty_gt=True, min_size=8)))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=1, max_keep_ckpts=1))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
