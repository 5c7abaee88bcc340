# Table 2e, GRU-Sequencer2D: BiGRU2D token mixers instead of BiLSTM2D (82.3 top-1, 25M, 7.5G).
_base_ = '../seq2d_s_in1k.py'
model = dict(backbone=dict(rnn_type='gru'))
