# Sequencer2D-L on ImageNet-1K from scratch (paper Table 6): lr 1e-3 at a total batch of 1024
# (8 GPUs x 128; auto_scale_lr rescales lr for other batch sizes), drop path 0.4.
_base_ = './seq2d_s_in1k.py'
lr = 1e-3
model = dict(backbone=dict(arch='l', drop_path_rate=0.4))
train_dataloader = dict(batch_size=128)
optim_wrapper = dict(optimizer=dict(lr=lr))
# The warm-up starts from 1e-6, a factor of lr; lists are replaced whole, hence the copy.
param_scheduler = [dict(s, start_factor=1e-6 / lr) if s.type == 'LinearLR' else s
                   for s in _base_.param_scheduler]
auto_scale_lr = dict(base_batch_size=1024)
