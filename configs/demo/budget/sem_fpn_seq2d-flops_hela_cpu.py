# configs/demo/sem_fpn_seq2d_hela_cpu.py with the widths of its Sequencer2D scaled by 2.484, so
# that its whole-model FLOPs at the test size (700x1100) are
# 1.007x those of configs/demo/backbones/sem_fpn_r18-half_hela_cpu.py (a budget-matched row of
# tools/analysis/compare_backbones.py; written by its --fit option).
_base_ = '../sem_fpn_seq2d_hela_cpu.py'
arch = dict(
    layers=[2, 2, 2, 2],
    patch_sizes=[7, 2, 1, 1],
    embed_dims=[160, 320, 320, 320],
    hidden_sizes=[40, 80, 80, 80],
    mlp_ratios=[3, 3, 3, 3])
model = dict(
    backbone=dict(arch=dict(_delete_=True, **arch)),
    neck=dict(in_channels=[160, 320, 320, 320]))
