# Sequencer2D-L fine-tuned at 392 px from the 224 px IN-1K model (paper Table 6, "L up-arrow"):
# AdamW lr 5e-5 at batch 512, wd 1e-8, 30 epochs, cosine to 1e-6, no warm-up or cool-down,
# test crop ratio 1.0, drop path 0.4. 392 = 28 x 14, so no padding is needed.
_base_ = ['./seq2d_l_in1k.py']

# The 224 px checkpoint to start from (e.g. converted public weights, see README).
load_from = 'checkpoints/seq2d_l_in1k.pth'

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=392, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic')),
    dict(
        type='RandomErasing',
        erase_prob=0.25,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=[103.53, 116.28, 123.675],
        fill_std=[57.375, 57.12, 58.395]),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    # crop ratio 1.0: resize the short edge straight to 392, then centre crop.
    dict(type='ResizeEdge', scale=392, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=392),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=64, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

lr = 5e-5
optim_wrapper = dict(optimizer=dict(lr=lr, weight_decay=1e-8))
param_scheduler = [
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=0, end=30,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=30, val_interval=1)
auto_scale_lr = dict(base_batch_size=512)
