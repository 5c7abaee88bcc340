# Table 2e, RNN-Sequencer2D: tanh-RNN (BiRNN2D) token mixers (80.6 top-1, 19M, 5.8G).
_base_ = '../seq2d_s_in1k.py'
model = dict(backbone=dict(rnn_type='rnn'))
