# Table 2a, row C1 + C2: both BiLSTMs concatenated (4D = C), no channel fusion (81.6 top-1).
# The full row C1 + C2 + C3 is ../seq2d_s_in1k.py (82.3).
_base_ = '../seq2d_s_in1k.py'
model = dict(backbone=dict(union='cat', with_fc=False))
