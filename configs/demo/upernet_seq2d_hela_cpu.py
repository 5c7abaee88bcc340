# UperNet + a small Sequencer2D on the demo's real task (HeLa nuclei): the Semantic FPN demo,
# ./sem_fpn_seq2d_hela_cpu.py (data, schedule, optimiser), with UperNet's heads as
# configs/upernet_seq2d_s_ade20k.py builds them (UPerHead on all four stages, FCN auxiliary head
# on stage 2), narrower for a small CPU machine and with GroupNorm for SyncBN.
#   tools/dist_train.sh configs/demo/upernet_seq2d_hela_cpu.py 2
#   tools/dist_test.sh  configs/demo/upernet_seq2d_hela_cpu.py CKPT 2
_base_ = './sem_fpn_seq2d_hela_cpu.py'
norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)
model = dict(
    neck=None,
    decode_head=dict(
        _delete_=True, type='UPerHead', in_channels=[64, 128, 128, 128], in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6), channels=128, dropout_ratio=0.1, num_classes=2,
        norm_cfg=norm_cfg, align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=dict(
        type='FCNHead', in_channels=128, in_index=2, channels=64, num_convs=1,
        concat_input=False, dropout_ratio=0.1, num_classes=2, norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)))
