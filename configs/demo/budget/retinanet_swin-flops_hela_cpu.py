# The Swin row of the RetinaNet comparison (../backbones/retinanet_swin-mini_hela_cpu.py)
# widened to 80/160/320/640 channels (2/4/8/16 heads of 40), so that the whole detector has
# about the FLOPs of the small Sequencer2D's (../retinanet_seq2d_hela_cpu.py, 0.96x at the tile
# size): a FLOPs-matched row of detection (see retinanet_r18-flops_hela_cpu.py).
_base_ = '../backbones/retinanet_swin-mini_hela_cpu.py'
model = dict(backbone=dict(embed_dims=80, num_heads=[2, 4, 8, 16]),
             neck=dict(in_channels=[160, 320, 640]))
