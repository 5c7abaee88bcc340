# configs/seq2d_s_in1k.py with the tiny arch, the recipe's augmentations at 56 px crops (test:
# short edge 64, centre crop 56), 10 classes (mmseq.testing.make_imagenet's default), one
# epoch, no worker processes, fp32; data from tools/misc/make_synthetic_data.py imagenet (set
# the loaders' data_root with --cfg-options).
_base_ = ['../../configs/seq2d_s_in1k.py', './_tiny_backbone.py']

data_root = 'data/tiny/imagenet'
num_classes = 10
model = dict(
    backbone={{_base_.tiny_backbone}},
    head=dict(in_channels=32, num_classes=num_classes))
data_preprocessor = dict(num_classes=num_classes)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=56, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2, total_level=10,
         magnitude_level=9, magnitude_std=0.5,
         hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic')),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand', min_area_ratio=0.02,
         max_area_ratio=1 / 3, fill_color=[103.53, 116.28, 123.675],
         fill_std=[57.375, 57.12, 58.395]),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=64, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=56),
    dict(type='PackInputs'),
]
_loader = dict(num_workers=0, persistent_workers=False)
train_dataloader = dict(batch_size=4, **_loader,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=4, **_loader,
                      dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
# The recipe's AmpOptimWrapper asserts CUDA (or NPU/MLU/MUSA) when it is built, so the
# libraries' own tools/train.py fail with it on a CPU-only machine: a plain OptimWrapper
# (fp32) with the recipe's optimizer and weight-decay exemptions instead.
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor={{_base_.optim_wrapper.constructor}},
    optimizer={{_base_.optim_wrapper.optimizer}},
    paramwise_cfg={{_base_.optim_wrapper.paramwise_cfg}})
train_cfg = dict(max_epochs=1, val_interval=1)
default_hooks = dict(logger=dict(interval=1))
randomness = dict(seed=0)
