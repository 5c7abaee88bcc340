# Sequencer2D-S classifier whose backbone starts from the IN-1K weights, for transfer learning
# (paper Table 6, third column: drop path 0.1 for S; M / L configs set 0.2 / 0.4 and their own
# checkpoint). Top-level configs set the head's num_classes.
_base_ = './sequencer2d_cls.py'
pretrained = 'checkpoints/seq2d_s_in1k.pth'
model = dict(
    backbone=dict(
        arch='s',
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
)
