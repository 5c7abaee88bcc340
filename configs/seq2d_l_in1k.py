# Sequencer2D-L on ImageNet-1K from scratch (paper Table 6): lr 1e-3 at a total batch of 1024
# (8 GPUs x 128; auto_scale_lr rescales lr for other batch sizes), drop path 0.4.
_base_ = [
    './_base_/models/sequencer2d_cls.py',
    './_base_/datasets/imagenet_seq2d_224.py',
    './_base_/schedules/imagenet_seq2d_300e.py',
    './_base_/default_runtime_cls.py',
]
lr = 1e-3
model = dict(backbone=dict(arch='l', drop_path_rate=0.4))
train_dataloader = dict(batch_size=128)
optim_wrapper = dict(optimizer=dict(lr=lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / lr, by_epoch=True, begin=0, end=20,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=20, end=290,
         convert_to_iter_based=True),
]
auto_scale_lr = dict(base_batch_size=1024)
