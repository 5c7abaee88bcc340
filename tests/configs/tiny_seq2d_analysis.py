# configs/seq2d_s_in1k.py with the tiny arch, no drop path and 10 classes, random init: the
# Sequencer2D classifier of the analysis tool tests (tools/analysis/).
_base_ = ['../../configs/seq2d_s_in1k.py', './_tiny_backbone.py']

model = dict(
    backbone=dict(arch={{_base_.tiny_backbone.arch}}, drop_path_rate=0.),
    head=dict(in_channels=32, num_classes=10))
data_preprocessor = dict(num_classes=10)
