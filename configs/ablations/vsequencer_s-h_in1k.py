# Table 2c, VSequencer(H)-S: Vanilla Sequencer blocks in Sequencer2D-S's hierarchy
# (7x7 stem, 2x2 downsample; 192 / 384 channels) (78.8 top-1).
_base_ = '../seq2d_s_in1k.py'
model = dict(backbone=dict(type='VanillaSequencer', arch='s-h'))
