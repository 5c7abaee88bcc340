# Table 2d: LSTM hidden size D doubled (D = C / 2) in every stage (82.6 top-1, 45M, 13.9G).
_base_ = '../seq2d_s_in1k.py'
model = dict(backbone=dict(hidden_ratio=2))
