# configs/sem_fpn_seq2d_s_ade20k.py with the tiny arch, a 16-channel FPN and head, 56 px crops,
# no worker processes; data from tools/misc/make_synthetic_data.py ade20k (set data_root with
# --cfg-options, see .dev_scripts/stress_dist.sh).
_base_ = ['../../configs/sem_fpn_seq2d_s_ade20k.py', './_tiny_backbone.py',
          './_tiny_ade20k_data.py']

data_root = 'data/tiny/ade/ADEChallengeData2016'
model = dict(
    backbone={{_base_.tiny_backbone}},
    neck=dict(in_channels=[16, 32, 32, 32], out_channels=16),
    decode_head=dict(in_channels=[16, 16, 16, 16], channels=16))
train_pipeline = {{_base_.tiny_ade_train_pipeline}}
test_pipeline = {{_base_.tiny_ade_test_pipeline}}
_loader = dict(num_workers=0, persistent_workers=False)
train_dataloader = dict(batch_size=2, **_loader,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(**_loader, dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=4, val_interval=4)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=4))
randomness = dict(seed=0)
