# Table 2a, row C2: horizontal BiLSTM only, no channel fusion (82.3 -> 75.0 top-1).
# The paper doubles D so the BiLSTM output (2 x 2D = 384) matches C without the fc.
_base_ = '../seq2d_s_in1k.py'
model = dict(backbone=dict(union='horizontal', with_fc=False, hidden_ratio=2))
