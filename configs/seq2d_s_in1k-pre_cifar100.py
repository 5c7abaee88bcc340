# Sequencer2D-S pre-trained on IN-1K, fine-tuned on CIFAR-100 at 224 px (paper Table 3/6).
# M / L: seq2d_{m,l}_in1k-pre_cifar100.py.
_base_ = [
    './_base_/models/sequencer2d_s_in1k-pre_cls.py',
    './_base_/datasets/cifar100_seq2d_224.py',
    './_base_/schedules/cifar_transfer_200e.py',
    './_base_/default_runtime_cls.py',
]
model = dict(head=dict(num_classes=100))
train_dataloader = dict(batch_size=64)  # 8 GPUs x 64 = 512
