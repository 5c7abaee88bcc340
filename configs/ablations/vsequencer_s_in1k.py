# Table 2c, VSequencer-S: Vanilla Sequencer blocks (one BiLSTM over the raster-scanned tokens),
# 14x14 stem and 384 channels throughout, no positional embedding (78.0 top-1).
_base_ = '../seq2d_s_in1k.py'
model = dict(backbone=dict(type='VanillaSequencer', arch='s'))
