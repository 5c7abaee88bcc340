# Sequencer2D-M pre-trained on IN-1K, fine-tuned on Flowers-102: the S recipe (Table 6, same for
# all sizes) with M's checkpoint and drop path 0.2.
_base_ = './seq2d_s_in1k-pre_flowers102.py'
pretrained = 'timm://sequencer2d_m.in1k'
model = dict(backbone=dict(arch='m', drop_path_rate=0.2, init_cfg=dict(checkpoint=pretrained)))
