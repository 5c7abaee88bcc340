# The ConvNeXt row of the RetinaNet comparison (../backbones/retinanet_convnext-mini_hela_cpu.py)
# widened to 96/192/384/768 channels, so that the whole detector has about the FLOPs of the
# small Sequencer2D's (../retinanet_seq2d_hela_cpu.py, 0.93x at the tile size): a FLOPs-matched
# row of detection (see retinanet_r18-flops_hela_cpu.py).
_base_ = '../backbones/retinanet_convnext-mini_hela_cpu.py'
model = dict(
    backbone=dict(arch=dict(depths=[2, 2, 2, 2], channels=[96, 192, 384, 768])),
    neck=dict(in_channels=[192, 384, 768]))
