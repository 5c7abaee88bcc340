# Swin's and ConvNeXt's UperNet schedule on ADE20K (mmseg's
# swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py): AdamW lr 6e-5,
# betas (0.9, 0.999), weight decay 0.01, 1500 iterations of linear warm-up from lr x 1e-6, then
# poly decay (power 1.0) to 0 at 160k iterations; total batch 16.
# Weight decay: none on the backbone's LayerNorms (custom key 'norm', as Swin's recipe; in
# Sequencer2D it matches exactly the blocks' norm1 / norm2 and the output norms). Swin's other
# two keys (absolute / relative position embeddings) have nothing to match: Sequencer2D has no
# position embedding. The heads' SyncBN layers are named 'bn' and keep their decay, as in Swin's.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    # plain-dict param groups, so that compile=True can trace the optimizer step
    constructor='mmseq.CompilableOptimWrapperConstructor',
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.)}),
    clip_grad=None)
warmup_iters, max_iters = 1500, 160000
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='PolyLR', eta_min=0., power=1.0, by_epoch=False, begin=warmup_iters,
         end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=16000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# lr is for a total batch of 16; `--auto-scale-lr` rescales it for other GPU counts.
auto_scale_lr = dict(enable=False, base_batch_size=16)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='mmseq.AtomicCheckpointHook', by_epoch=False, interval=16000,
                    max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
