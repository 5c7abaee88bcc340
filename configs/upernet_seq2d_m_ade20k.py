# UperNet with Sequencer2D-M on ADE20K, the recipe of upernet_seq2d_s_ade20k.py.
#   tools/dist_train.sh configs/upernet_seq2d_m_ade20k.py 8

# The IN-1K classifier weights (timm/sequencer2d_m.in1k; see upernet_seq2d_s_ade20k.py).
pretrained = 'timm://sequencer2d_m.in1k'

_base_ = './upernet_seq2d_s_ade20k.py'
# The base's init_cfg holds the S path (substituted there), so the path is set again;
# drop path of the IN-1K training (Table 6).
model = dict(backbone=dict(arch='m', drop_path_rate=0.2, init_cfg=dict(checkpoint=pretrained)))
