# Table 2b: forward-only vertical and horizontal LSTMs (79.7 vs 82.3 top-1). The caption
# doubles D for the unidirectional BiLSTM2D so the concatenation is still 2 x 2D = C; the
# channel fusion stays.
_base_ = '../seq2d_s_in1k.py'
model = dict(backbone=dict(bidirectional=False, hidden_ratio=2))
