# Sequencer2D-L pre-trained on IN-1K, fine-tuned on CIFAR-100: the S recipe (Table 6, same for
# all sizes) with L's checkpoint and drop path 0.4.
_base_ = './seq2d_s_in1k-pre_cifar100.py'
pretrained = 'timm://sequencer2d_l.in1k'
model = dict(backbone=dict(arch='l', drop_path_rate=0.4, init_cfg=dict(checkpoint=pretrained)))
