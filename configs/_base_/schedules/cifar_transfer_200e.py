# Table 6, transfer learning: AdamW lr 1e-4 at batch 512, wd 1e-4, 200 epochs, 5 linear
# warm-up epochs from 1e-6, cosine to 1e-6, 10 cool-down epochs, gradient clipping at 1.
lr = 1e-4
warmup_epochs, cooldown_epochs, max_epochs = 5, 10, 200
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=lr, weight_decay=1e-4, eps=1e-8, betas=(0.9, 0.999)),
    # plain-dict param groups, so that compile=True can trace the optimizer step
    constructor='mmseq.CompilableOptimWrapperConstructor',
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0),
    clip_grad=dict(max_norm=1.0),
)
param_scheduler = [
    # start_factor is relative to lr: the warm-up starts from 1e-6.
    dict(type='LinearLR', start_factor=1e-6 / lr, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=warmup_epochs,
         end=max_epochs - cooldown_epochs, convert_to_iter_based=True),
    # After the cosine ends no scheduler is active: lr stays at eta_min (the cool-down).
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=512, enable=True)
