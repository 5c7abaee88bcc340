# Sequencer2D-S pre-trained on IN-1K, fine-tuned on CIFAR-100 at 224 px (paper Table 3/6).
_base_ = ['./seq2d_s_in1k-pre_cifar10.py']
model = dict(head=dict(num_classes=100))
data_preprocessor = dict(num_classes=100, mean=[129.304, 124.070, 112.434],
                         std=[68.170, 65.392, 70.418])
train_dataloader = dict(dataset=dict(type='CIFAR100', data_root='data/cifar100'))
val_dataloader = dict(dataset=dict(type='CIFAR100', data_root='data/cifar100'))
test_dataloader = val_dataloader
