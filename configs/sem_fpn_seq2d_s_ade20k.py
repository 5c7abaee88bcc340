# Semantic FPN with Sequencer2D-S on ADE20K, 512x512 crops, 40k iterations at a total batch
# of 32 (8 GPUs x 4), AdamW 2e-4 with poly decay (paper App. C.4, Table 3: S row).
#   tools/dist_train.sh configs/sem_fpn_seq2d_s_ade20k.py 8

# The IN-1K classifier weights: timm:// names the public weights (Hugging Face hub repo
# timm/sequencer2d_s.in1k, fetched into the hub cache on first use and converted to the
# configs/seq2d_s_in1k.py classifier's layout; see docs/tools.md). A file written by
# tools/train.py or tools/model_converters/sequencer_to_mmseq.py works the same. Its keys start
# with "backbone.", which the prefix strips.
pretrained = 'timm://sequencer2d_s.in1k'

_base_ = [
    './_base_/models/sem_fpn_seq2d.py',
    './_base_/datasets/ade20k_512.py',
    './_base_/schedules/seg_adamw_poly_40k.py',
    './_base_/default_runtime_seg.py',
]
model = dict(
    backbone=dict(
        arch='s',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')))
