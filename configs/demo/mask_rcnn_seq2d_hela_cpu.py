# Mask R-CNN + a small Sequencer2D trained from scratch on real microscopy images (HeLa nuclei,
# mmseq/datasets/hela.py) on a CPU machine: the own-data template,
# configs/mask_rcnn_seq2d_s_custom.py, filled in for this data, with the overrides a small
# machine needs.
#   python tools/dataset_converters/hela.py convert data/hela
#   tools/dist_train.sh configs/demo/mask_rcnn_seq2d_hela_cpu.py 2
#   tools/dist_test.sh  configs/demo/mask_rcnn_seq2d_hela_cpu.py CKPT 2 --show-dir vis
_base_ = '../mask_rcnn_seq2d_s_custom.py'

# ---- the template's block, for the HeLa data ----
data_root = 'data/hela/'
classes = ('nucleus', )
palette = [(255, 64, 64)]
images = 'tile_dir/'  # the frames cut into 2x2 tiles: ~50 nuclei per image
annotations = 'annotations/instances_{}.json'
scale = (550, 350)  # the tiles' own size: ~28 px nuclei
crop_size = (280, 280)

# ---- the small machine: a small backbone from scratch, 2 x 2 crops per step ----
small_arch = dict(layers=[2, 2, 2, 2], patch_sizes=[7, 2, 1, 1], embed_dims=[64, 128, 128, 128],
                  hidden_sizes=[16, 32, 32, 32], mlp_ratios=[3, 3, 3, 3])
model = dict(
    backbone=dict(arch=dict(_delete_=True, **small_arch), drop_path_rate=0., init_cfg=None),
    neck=dict(in_channels=[64, 128, 128, 128]),
    roi_head=dict(bbox_head=dict(num_classes=len(classes)),
                  mask_head=dict(num_classes=len(classes))))
max_iters = 300
lr = 2e-4

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=scale, ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
dataset = dict(data_root=data_root, metainfo=dict(classes=classes, palette=palette))
loader = dict(num_workers=0, persistent_workers=False)
train_dataloader = dict(
    batch_size=2, **loader, sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(**dataset, ann_file=annotations.format('train'),
                 data_prefix=dict(img=images + 'train/'), pipeline=train_pipeline))
test_dataloader = dict(**loader, dataset=dict(
    **dataset, ann_file=annotations.format('val'), data_prefix=dict(img=images + 'val/'),
    pipeline=test_pipeline))
test_evaluator = dict(ann_file=data_root + annotations.format('val'))
# No evaluation during training: the held-out frames are for tools/dist_test.sh only.
val_dataloader = val_cfg = val_evaluator = None

optim_wrapper = dict(optimizer=dict(lr=lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', eta_min=0., by_epoch=False, begin=100, end=max_iters),
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters)
default_hooks = dict(logger=dict(interval=50),
                     checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
