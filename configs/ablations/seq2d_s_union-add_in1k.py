# Table 12a: vertical and horizontal BiLSTM outputs added instead of concatenated; the
# channel fusion then maps 2D -> C (82.2 top-1, 27M, 8.0G).
_base_ = '../seq2d_s_in1k.py'
model = dict(backbone=dict(union='add'))
