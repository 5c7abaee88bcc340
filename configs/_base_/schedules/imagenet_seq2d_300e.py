# Table 6, IN-1K from scratch: AdamW, wd 0.05 (none on norms, biases and other 1-D params),
# 20 linear warm-up epochs from 1e-6, cosine to 1e-6, then 10 cool-down epochs at 1e-6;
# 300 epochs in all; mixed precision. Top-level configs set lr and the batch it refers to.
base_lr = 2e-3
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=base_lr, weight_decay=0.05, eps=1e-8, betas=(0.9, 0.999)),
    # plain-dict param groups, so that compile=True can trace the optimizer step
    constructor='mmseq.CompilableOptimWrapperConstructor',
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0),
)
warmup_epochs, cooldown_epochs, max_epochs = 20, 10, 300
param_scheduler = [
    # start_factor is relative to lr: 1e-6 / 2e-3. Top-level configs recompute it.
    dict(type='LinearLR', start_factor=1e-6 / base_lr, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=warmup_epochs,
         end=max_epochs - cooldown_epochs, convert_to_iter_based=True),
    # After the cosine ends no scheduler is active: lr stays at eta_min (the cool-down).
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=2048, enable=True)
