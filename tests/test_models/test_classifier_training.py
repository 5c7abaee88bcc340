"""The IN-1K classifier config, shrunk, trains with mmengine's Runner on a generated
ImageNet-layout folder and its loss goes down."""
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from helpers import TINY_ARCH
from mmseq.testing import make_imagenet


@pytest.mark.slow
def test_in1k_config_trains_and_loss_goes_down(tmp_path, repo_root):
    data_root = tmp_path / 'imagenet'
    make_imagenet(str(data_root), num_classes=4, per_class=12, size=64)
    cfg = Config.fromfile(f'{repo_root}/configs/seq2d_s_in1k.py')
    num_classes = 4
    cfg.merge_from_dict({
        'work_dir': str(tmp_path / 'work'),
        'model.backbone.arch': dict(TINY_ARCH, _delete_=True),
        'model.backbone.drop_path_rate': 0.0,
        'model.head.in_channels': 32,
        'model.head.num_classes': num_classes,
        'data_preprocessor.num_classes': num_classes,
        'train_dataloader.batch_size': 8,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'train_dataloader.dataset.data_root': str(data_root),
        'optim_wrapper.type': 'OptimWrapper',
        'optim_wrapper.optimizer.lr': 2e-3,
        'auto_scale_lr.enable': False,
        'default_hooks.logger.interval': 1,
        'default_hooks.checkpoint.interval': 1000,
        'randomness.seed': 0,
    })
    # Keep the recipe's pipeline but at 56 px; drop mixup/cutmix so the loss is comparable.
    cfg.train_dataloader.dataset.pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='RandomResizedCrop', scale=56, crop_ratio_range=(0.6, 1.0), backend='pillow',
             interpolation='bicubic'),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='PackInputs'),
    ]
    cfg.model.train_cfg = None
    cfg.optim_wrapper.pop('loss_scale')
    cfg.param_scheduler = []
    cfg.train_cfg = dict(by_epoch=False, max_iters=40, val_interval=1000)
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator', 'test_dataloader', 'test_cfg',
                'test_evaluator'):
        cfg[key] = None
    cfg.default_hooks.checkpoint.save_best = None

    runner = Runner.from_cfg(cfg)
    runner.train()
    losses = np.array(runner.message_hub.get_scalar('train/loss').data[0])
    assert len(losses) == 40 and np.isfinite(losses).all()
    assert losses[-10:].mean() < 0.7 * losses[:10].mean(), losses
