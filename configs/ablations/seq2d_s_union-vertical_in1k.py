# Table 2a, row C1: vertical BiLSTM only, no channel fusion (82.3 -> 75.6 top-1).
# The paper doubles D so the BiLSTM output (2 x 2D = 384) matches C without the fc.
_base_ = '../seq2d_s_in1k.py'
model = dict(backbone=dict(union='vertical', with_fc=False, hidden_ratio=2))
