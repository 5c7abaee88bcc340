# `make demo`: Semantic FPN + a small Sequencer2D trained from scratch on real microscopy images
# (HeLa nuclei, mmseq/datasets/hela.py) by 2 CPU processes in a few minutes. It is the own-data
# template, configs/sem_fpn_seq2d_s_custom.py, filled in for this data, with the
# overrides a small CPU machine needs.
#   python tools/dataset_converters/hela.py convert data/hela
#   tools/dist_train.sh configs/demo/sem_fpn_seq2d_hela_cpu.py 2
#   tools/dist_test.sh  configs/demo/sem_fpn_seq2d_hela_cpu.py CKPT 2 --show-dir vis
_base_ = '../sem_fpn_seq2d_s_custom.py'

# ---- the template's block, for the HeLa data ----
data_root = 'data/hela'
classes = ('background', 'nucleus')
palette = [[0, 0, 0], [255, 64, 64]]
img_suffix = '.png'
crop_size = (252, 252)
scale = (1100, 700)  # the frames' own size: ~28 px nuclei
num_classes = len(classes)

# ---- the small machine: a small backbone from scratch, GroupNorm, 2 x 2 images per step ----
# Stages of 2 blocks and 64 / 128 channels (Sequencer2D-S: 4-3-8-3 blocks, 192 / 384).
small_arch = dict(layers=[2, 2, 2, 2], patch_sizes=[7, 2, 1, 1], embed_dims=[64, 128, 128, 128],
                  hidden_sizes=[16, 32, 32, 32], mlp_ratios=[3, 3, 3, 3])
# SyncBN needs CUDA; GroupNorm keeps no running statistics, so every process and the
# checkpoint agree.
norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)
model = dict(
    backbone=dict(arch=dict(_delete_=True, **small_arch), init_cfg=None),
    neck=dict(in_channels=[64, 128, 128, 128]),
    decode_head=dict(num_classes=num_classes, norm_cfg=norm_cfg))
max_iters = 300
lr = 1e-3

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmseq.LoadSegLabels', num_classes=num_classes),
    dict(type='RandomResize', scale=scale, ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='mmseq.LoadSegLabels', num_classes=num_classes),
    dict(type='PackSegInputs'),
]
dataset = dict(data_root=data_root, metainfo=dict(classes=classes, palette=palette),
               img_suffix=img_suffix)
loader = dict(num_workers=0, persistent_workers=False)
train_dataloader = dict(batch_size=2, **loader, dataset=dict(**dataset, pipeline=train_pipeline))
test_dataloader = dict(**loader, dataset=dict(**dataset, pipeline=test_pipeline))
# No evaluation during training: the held-out frames are for tools/dist_test.sh only.
val_dataloader = val_cfg = val_evaluator = None

optim_wrapper = dict(optimizer=dict(lr=lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type='PolyLR', eta_min=0., power=0.9, begin=50, end=max_iters, by_epoch=False),
]
train_cfg = dict(max_iters=max_iters)
default_hooks = dict(logger=dict(interval=50),
                     checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
