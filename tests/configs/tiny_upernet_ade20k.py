# configs/upernet_seq2d_s_ade20k.py with the tiny arch, a 16-channel UPerHead and an 8-channel
# auxiliary head, 56 px crops (the test scale 140x56, and its multi-scale ratios for --tta), no
# worker processes; data from tools/misc/make_synthetic_data.py ade20k (set data_root with
# --cfg-options).
_base_ = ['../../configs/upernet_seq2d_s_ade20k.py', './_tiny_backbone.py',
          './_tiny_ade20k_data.py']

data_root = 'data/tiny/ade/ADEChallengeData2016'
model = dict(
    backbone={{_base_.tiny_backbone}},
    decode_head=dict(in_channels=[16, 32, 32, 32], channels=16),
    auxiliary_head=dict(in_channels=32, channels=8))
train_pipeline = {{_base_.tiny_ade_train_pipeline}}
test_pipeline = {{_base_.tiny_ade_test_pipeline}}
# The base's multi-scale test (its ratios, flip) around the tiny test scale.
test_scale = (140, 56)
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale=(int(test_scale[0] * r), int(test_scale[1] * r)),
                  keep_ratio=True) for r in _base_.img_ratios],
            [dict(type='RandomFlip', prob=0., direction='horizontal'),
             dict(type='RandomFlip', prob=1., direction='horizontal')],
            [dict(type='LoadAnnotations')],
            [dict(type='PackSegInputs')],
        ])
]
_loader = dict(num_workers=0, persistent_workers=False)
train_dataloader = dict(batch_size=2, **_loader,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(**_loader, dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=4, val_interval=4)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=4))
randomness = dict(seed=0)
