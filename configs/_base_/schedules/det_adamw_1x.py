# App. C.5: mmdet's 1x schedule (12 epochs, lr x0.1 after epochs 8 and 11, 500 iterations of
# linear warm-up, total batch 16) with AdamW lr 1e-4, weight decay 1e-4, the usual AdamW
# RetinaNet recipe (e.g. MetaFormer's). `--auto-scale-lr` rescales lr for other batches.
_base_ = 'mmdet::_base_/schedules/schedule_1x.py'
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-4))
