# Sequencer2D-S classifier whose backbone starts from the IN-1K weights, for transfer learning
# (paper Table 6, third column: drop path 0.1 for S; M / L configs set 0.2 / 0.4 and their own
# checkpoint). Top-level configs set the head's num_classes.
_base_ = './sequencer2d_cls.py'
# The public IN-1K weights by name (Hugging Face hub repo timm/sequencer2d_s.in1k, cached;
# see docs/tools.md), or a classifier checkpoint file.
pretrained = 'timm://sequencer2d_s.in1k'
model = dict(
    backbone=dict(
        arch='s',
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
)
