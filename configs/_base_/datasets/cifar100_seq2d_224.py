# CIFAR-100 upsampled to 224 for transfer from IN-1K: the CIFAR-10 pipeline and loaders
# (./cifar_seq2d_224.py) with CIFAR-100's classes and statistics. mmpretrain's CIFAR100 reads
# (or downloads) the python batches under data_root: data/cifar100/cifar-100-python/.
_base_ = './cifar_seq2d_224.py'
dataset_type = 'CIFAR100'
data_root = 'data/cifar100'
data_preprocessor = dict(num_classes=100, mean=[129.304, 124.070, 112.434],
                         std=[68.170, 65.392, 70.418])
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = val_dataloader
