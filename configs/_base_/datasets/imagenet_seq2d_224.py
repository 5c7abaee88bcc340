# ImageNet-1K at 224 with the paper's augmentation (Table 6), which is mmpretrain's Swin
# pipeline: bicubic random-resized crop, RandAugment (9, 0.5), random erasing 0.25; test:
# resize to 224 / 0.875 = 256, centre crop. Only the loaders differ.
_base_ = 'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py'
data_root = 'data/imagenet'
train_dataloader = dict(
    batch_size=256, num_workers=8, persistent_workers=True, dataset=dict(data_root=data_root))
val_dataloader = dict(
    batch_size=128, num_workers=8, persistent_workers=True, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
