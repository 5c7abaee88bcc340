# Swin's Mask R-CNN 1x recipe (mmdet's swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py): mmdet's 1x
# schedule (12 epochs, lr x0.1 after epochs 8 and 11, total batch 16) with 1000 iterations of
# linear warm-up from lr x 1e-3 and AdamW lr 1e-4, betas (0.9, 0.999), weight decay 0.05.
# Weight decay: none on the backbone's LayerNorms (custom key 'norm', as Swin's recipe; in
# Sequencer2D it matches exactly the blocks' norm1 / norm2 and the output norms; FPN and the
# heads have no norm layers). Swin's position-embedding keys have nothing to match here.
# `--auto-scale-lr` rescales lr for other batches (base batch 16).
_base_ = 'mmdet::_base_/schedules/schedule_1x.py'
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    # plain-dict param groups, so that compile=True can trace the optimizer step
    constructor='mmseq.CompilableOptimWrapperConstructor',
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.)}))
max_epochs = 12
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[8, 11],
         gamma=0.1),
]
