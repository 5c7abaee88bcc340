# RetinaNet with Sequencer2D-S on COCO, 1x schedule (12 epochs) at a total batch of 16
# (8 GPUs x 2), AdamW 1e-4 (paper App. C.5, Table 11: S row).
#   tools/dist_train.sh configs/retinanet_seq2d_s_coco.py 8

# The IN-1K classifier weights: timm:// names the public weights (Hugging Face hub repo
# timm/sequencer2d_s.in1k, fetched into the hub cache on first use and converted to the
# configs/seq2d_s_in1k.py classifier's layout; see docs/tools.md). A file written by
# tools/train.py or tools/model_converters/sequencer_to_mmseq.py works the same. Its keys start
# with "backbone.", which the prefix strips.
pretrained = 'timm://sequencer2d_s.in1k'

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
