# The ResNet-18 row of the RetinaNet comparison (../backbones/retinanet_r18-half_hela_cpu.py)
# widened to 80/160/320/640 channels, so that the whole detector has the FLOPs of the small
# Sequencer2D's (../retinanet_seq2d_hela_cpu.py, 1.01x at the tile size): the FLOPs-matched
# row of detection, where no Sequencer2D width comes down to the ResNet's budget (RetinaNet's
# neck and head on a stride-7 pyramid alone cost more). tools/analysis/compare_backbones.py
# --reference configs/demo/retinanet_seq2d_hela_cpu.py compares them (docs/real_data.md).
_base_ = '../backbones/retinanet_r18-half_hela_cpu.py'
model = dict(backbone=dict(base_channels=80), neck=dict(in_channels=[160, 320, 640]))
