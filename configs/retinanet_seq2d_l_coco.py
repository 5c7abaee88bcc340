# RetinaNet with Sequencer2D-L on COCO, 1x schedule (12 epochs) at a total batch of 16
# (8 GPUs x 2), AdamW 1e-4 (paper App. C.5, Table 11: L row).
#   tools/dist_train.sh configs/retinanet_seq2d_l_coco.py 8

# The IN-1K classifier checkpoint (configs/seq2d_l_in1k.py; see retinanet_seq2d_s_coco.py).
pretrained = 'timm://sequencer2d_l.in1k'

_base_ = './retinanet_seq2d_s_coco.py'
# The base's init_cfg holds the S path (substituted there), so the path is set again.
model = dict(backbone=dict(arch='l', init_cfg=dict(checkpoint=pretrained)))
