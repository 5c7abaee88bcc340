# RetinaNet with Sequencer2D-S on COCO, 1x schedule (12 epochs) at a total batch of 16
# (8 GPUs x 2), AdamW 1e-4 (paper App. C.5, Table 11: S row).
#   tools/dist_train.sh configs/retinanet_seq2d_s_coco.py 8

# The IN-1K classifier checkpoint (configs/seq2d_s_in1k.py, trained or converted from the
# public weights with tools/model_converters/sequencer_to_mmseq.py). Its keys start with
# "backbone.", which the prefix strips.
pretrained = 'checkpoints/seq2d_s_in1k.pth'

_base_ = [
    './_base_/models/retinanet_seq2d.py',
    './_base_/datasets/coco_detection.py',
    './_base_/schedules/det_adamw_1x.py',
    './_base_/default_runtime_det.py',
]
model = dict(
    backbone=dict(
        arch='s',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')))
