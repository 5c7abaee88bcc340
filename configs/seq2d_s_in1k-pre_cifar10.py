# Sequencer2D-S pre-trained on IN-1K, fine-tuned on CIFAR-10 at 224 px (paper Table 3/6).
# For M / L: --cfg-options model.backbone.arch=m model.backbone.drop_path_rate=0.2 (L: 0.4).
_base_ = [
    './_base_/models/sequencer2d_cls.py',
    './_base_/datasets/cifar_seq2d_224.py',
    './_base_/schedules/cifar_transfer_200e.py',
    './_base_/default_runtime_cls.py',
]
pretrained = 'checkpoints/seq2d_s_in1k.pth'
model = dict(
    backbone=dict(
        arch='s',
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(num_classes=10),
)
train_dataloader = dict(batch_size=64)  # 8 GPUs x 64 = 512
