# Mask R-CNN with Sequencer2D-L on COCO, the 3x recipe of mask_rcnn_seq2d_s_coco_3x.py.
#   tools/dist_train.sh configs/mask_rcnn_seq2d_l_coco_3x.py 8

# The IN-1K classifier weights (timm/sequencer2d_l.in1k; see mask_rcnn_seq2d_s_coco.py).
pretrained = 'timm://sequencer2d_l.in1k'

_base_ = './mask_rcnn_seq2d_s_coco_3x.py'
# The base's init_cfg holds the S path (substituted there), so the path is set again;
# drop path of the IN-1K training (Table 6).
model = dict(backbone=dict(arch='l', drop_path_rate=0.4, init_cfg=dict(checkpoint=pretrained)))
