# Table 6, transfer learning to Flowers-102 and Stanford Cars: the CIFAR recipe
# (./cifar_transfer_200e.py) for 1000 epochs; the cosine still ends 10 epochs before the end.
# Lists are replaced whole, so the schedule is rebuilt from the base's entries.
_base_ = './cifar_transfer_200e.py'
max_epochs = 1000
param_scheduler = [
    dict(s, end=max_epochs - _base_.cooldown_epochs) if s.type == 'CosineAnnealingLR' else s
    for s in _base_.param_scheduler
]
# A few hundred images per epoch at batch 512: validate every 50 epochs, not every 10.
train_cfg = dict(max_epochs=max_epochs, val_interval=50)
