# Table 2c, VSequencer(PE)-S: VSequencer-S with a ViT-style learned positional embedding
# (78.1 top-1).
_base_ = '../seq2d_s_in1k.py'
model = dict(backbone=dict(type='VanillaSequencer', arch='s-pe'))
