# Mask R-CNN with Sequencer2D-S on COCO with Swin's 1x recipe: 12 epochs at a total batch of 16
# (8 GPUs x 2), 1333x800 and flip, AdamW 1e-4 (weight decay 0.05, none on the backbone's
# norms), 1000 warm-up iterations; bbox and segm mAP. The 3x multi-scale recipe:
# mask_rcnn_seq2d_s_coco_3x.py.
#   tools/dist_train.sh configs/mask_rcnn_seq2d_s_coco.py 8
#   tools/dist_test.sh  configs/mask_rcnn_seq2d_s_coco.py CKPT 8   # bbox and segm mAP

# The IN-1K classifier weights, by timm:// name (the public timm/sequencer2d_s.in1k weights,
# fetched into the Hugging Face hub cache on first use and converted to the layout of the
# configs/seq2d_s_in1k.py classifier; docs/tools.md), as the Semantic FPN / RetinaNet configs
# take them. A checkpoint file of that classifier works the same. Its keys start with
# "backbone.", which the prefix strips.
pretrained = 'timm://sequencer2d_s.in1k'

_base_ = [
    './_base_/models/mask_rcnn_seq2d.py',
    './_base_/datasets/coco_instance.py',
    './_base_/schedules/det_adamw_mask_rcnn_1x.py',
    './_base_/default_runtime_det.py',
]
model = dict(
    backbone=dict(
        arch='s',
        # Stochastic depth of the IN-1K training (paper Table 6: S/M/L 0.1/0.2/0.4).
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')))
