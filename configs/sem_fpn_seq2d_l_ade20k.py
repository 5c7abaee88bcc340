# Semantic FPN with Sequencer2D-L on ADE20K, 512x512 crops, 40k iterations at a total batch
# of 32 (8 GPUs x 4), AdamW 2e-4 with poly decay (paper App. C.4, Table 3: L row).
#   tools/dist_train.sh configs/sem_fpn_seq2d_l_ade20k.py 8

# The IN-1K classifier checkpoint (configs/seq2d_l_in1k.py; see sem_fpn_seq2d_s_ade20k.py).
pretrained = 'timm://sequencer2d_l.in1k'

_base_ = './sem_fpn_seq2d_s_ade20k.py'
# The base's init_cfg holds the S path (substituted there), so the path is set again.
model = dict(backbone=dict(arch='l', init_cfg=dict(checkpoint=pretrained)))
