# The README's main command on a small CPU machine (2 cores, no GPU): every override of the
# real config configs/sem_fpn_seq2d_s_ade20k.py sits in this file.
#   tools/run_demo.sh   (= make demo): generated ADE20K-layout data, then
#   tools/dist_train.sh configs/demo/sem_fpn_seq2d_s_ade20k_cpu.py 2   (gloo, 2 processes)
#   tools/dist_test.sh  configs/demo/sem_fpn_seq2d_s_ade20k_cpu.py CKPT 2
# Same model (Sequencer2D-S + FPN + StridedFPNHead, 31.6M parameters; GroupNorm for SyncBN),
# same optimiser and poly schedule; what differs, and why:
_base_ = '../sem_fpn_seq2d_s_ade20k.py'

# Generated data (tools/misc/make_synthetic_data.py ade20k data/demo/ade), same layout as
# data/ade/ADEChallengeData2016.
data_root = 'data/demo/ade/ADEChallengeData2016'
# 224 crops (a multiple of 14) and 224-pixel test scale instead of 512: CPU time.
crop_size = (224, 224)
scale = (896, 224)
max_iters = 20  # a handful of iterations, not 40k
# SyncBN needs CUDA. Plain BN would keep per-process running statistics (only rank 0's reach
# the checkpoint, so a multi-process evaluation during training and tools/dist_test.sh on the
# checkpoint would disagree); GroupNorm has none, and the same number of parameters.
norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)

model = dict(
    # No IN-1K checkpoint on this machine: a random init is trained instead.
    backbone=dict(init_cfg=None),
    decode_head=dict(norm_cfg=norm_cfg))

# Labels: ADE20KDataset's reduce_zero_label=True (label 0, "other", ignored), which
# LoadAnnotations takes from the dataset when not given its own (mmseg deprecates that).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=scale, ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
# 2 images per process (total 4 instead of 32); no worker processes on 2 cores.
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

param_scheduler = [
    dict(type='PolyLR', eta_min=0., power=0.9, begin=0, end=max_iters, by_epoch=False),
]
# One evaluation at the end of training (it equals tools/dist_test.sh on the checkpoint).
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=2),  # a progress line every ~15 s here
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
