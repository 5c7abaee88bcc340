# Semantic FPN with Sequencer2D-M on ADE20K, 512x512 crops, 40k iterations at a total batch
# of 32 (8 GPUs x 4), AdamW 2e-4 with poly decay (paper App. C.4, Table 3: M row).
#   tools/dist_train.sh configs/sem_fpn_seq2d_m_ade20k.py 8

# The IN-1K classifier checkpoint (configs/seq2d_m_in1k.py, trained or converted from the
# public weights with tools/model_converters/sequencer_to_mmseq.py). Its keys start with
# "backbone.", which the prefix strips.
pretrained = 'checkpoints/seq2d_m_in1k.pth'

_base_ = [
    './_base_/models/sem_fpn_seq2d.py',
    './_base_/datasets/ade20k_512.py',
    './_base_/schedules/seg_adamw_poly_40k.py',
    './_base_/default_runtime_seg.py',
]
model = dict(
    backbone=dict(
        arch='m',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')))
