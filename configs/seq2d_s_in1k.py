# Sequencer2D-S on ImageNet-1K from scratch (paper Table 6): lr 2e-3 at a total batch of 2048
# (8 GPUs x 256; auto_scale_lr rescales lr for other batch sizes), drop path 0.1.
_base_ = [
    './_base_/models/sequencer2d_cls.py',
    './_base_/datasets/imagenet_seq2d_224.py',
    './_base_/schedules/imagenet_seq2d_300e.py',
    './_base_/default_runtime_cls.py',
]
lr = 2e-3
model = dict(backbone=dict(arch='s', drop_path_rate=0.1))
train_dataloader = dict(batch_size=256)
optim_wrapper = dict(optimizer=dict(lr=lr))
auto_scale_lr = dict(base_batch_size=2048)
