"""The classification configs encode the paper's Table 6 recipes and their pipelines run."""
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope


def load(repo_root, name):
    cfg = Config.fromfile(f'{repo_root}/configs/{name}.py')
    init_default_scope(cfg.default_scope)
    return cfg


def schedulers(cfg):
    return {s['type']: s for s in cfg.param_scheduler}


@pytest.mark.parametrize('arch,lr,batch,drop_path', [
    ('s', 2e-3, 2048, 0.1), ('m', 1.5e-3, 1536, 0.2), ('l', 1e-3, 1024, 0.4)])
def test_in1k_recipe(repo_root, arch, lr, batch, drop_path):
    cfg = load(repo_root, f'seq2d_{arch}_in1k')
    opt = cfg.optim_wrapper
    assert cfg.model.backbone.type == 'Sequencer2D' and cfg.model.backbone.arch == arch
    assert cfg.model.backbone.drop_path_rate == drop_path
    assert opt.type == 'AmpOptimWrapper' and opt.optimizer.type == 'AdamW'
    assert opt.optimizer.lr == pytest.approx(lr) and opt.optimizer.weight_decay == 0.05
    # lr follows the paper's rule batch / 512 * 5e-4, and auto_scale_lr refers to that batch.
    assert opt.optimizer.lr == pytest.approx(batch / 512 * 5e-4)
    assert cfg.auto_scale_lr.base_batch_size == batch
    assert cfg.train_dataloader.batch_size * 8 == batch
    assert opt.paramwise_cfg.norm_decay_mult == 0 and opt.paramwise_cfg.flat_decay_mult == 0
    sched = schedulers(cfg)
    warm, cos = sched['LinearLR'], sched['CosineAnnealingLR']
    assert warm.start_factor * lr == pytest.approx(1e-6) and warm.end == 20
    assert cos.begin == 20 and cos.eta_min == 1e-6
    assert cfg.train_cfg.max_epochs - cos.end == 10 and cfg.train_cfg.max_epochs == 300
    assert cfg.model.head.loss.label_smooth_val == 0.1
    assert [a['type'] for a in cfg.model.train_cfg.augments] == ['Mixup', 'CutMix']
    assert [a['alpha'] for a in cfg.model.train_cfg.augments] == [0.8, 1.0]


def run_pipeline(pipeline, size=(300, 260)):
    img = np.random.randint(0, 255, (*size, 3), dtype=np.uint8)
    steps = [t for t in pipeline if t['type'] != 'LoadImageFromFile']
    return Compose(steps)(dict(img=img, img_shape=size, ori_shape=size, gt_label=1))


def test_in1k_pipelines(repo_root):
    cfg = load(repo_root, 'seq2d_s_in1k')
    train = run_pipeline(cfg.train_dataloader.dataset.pipeline)
    test = run_pipeline(cfg.test_dataloader.dataset.pipeline)
    assert train['inputs'].shape == (3, 224, 224) and test['inputs'].shape == (3, 224, 224)
    types = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert 'RandAugment' in types and 'RandomErasing' in types
    resize = cfg.test_dataloader.dataset.pipeline[1]
    assert 224 / resize['scale'] == 0.875 and resize['interpolation'] == 'bicubic'


def test_finetune_392_recipe(repo_root):
    cfg = load(repo_root, 'seq2d_l_in1k_392')
    assert cfg.model.backbone.arch == 'l' and cfg.model.backbone.drop_path_rate == 0.4
    assert cfg.optim_wrapper.optimizer.lr == 5e-5 and cfg.optim_wrapper.optimizer.weight_decay == 1e-8
    assert cfg.auto_scale_lr.base_batch_size == 512 and cfg.train_cfg.max_epochs == 30
    assert list(schedulers(cfg)) == ['CosineAnnealingLR']
    assert run_pipeline(cfg.train_dataloader.dataset.pipeline)['inputs'].shape == (3, 392, 392)
    test = cfg.test_dataloader.dataset.pipeline
    assert test[1]['scale'] == test[2]['crop_size'] == 392  # crop ratio 1.0
    assert run_pipeline(test)['inputs'].shape == (3, 392, 392)


@pytest.mark.parametrize('name,classes', [('seq2d_s_in1k-pre_cifar10', 10),
                                          ('seq2d_s_in1k-pre_cifar100', 100)])
def test_cifar_transfer_recipe(repo_root, name, classes):
    cfg = load(repo_root, name)
    assert cfg.model.head.num_classes == classes == cfg.data_preprocessor.num_classes
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'
    assert cfg.model.backbone.init_cfg.prefix == 'backbone.'
    opt = cfg.optim_wrapper
    assert opt.optimizer.lr == 1e-4 and opt.optimizer.weight_decay == 1e-4
    assert opt.clip_grad.max_norm == 1.0 and cfg.train_cfg.max_epochs == 200
    assert schedulers(cfg)['LinearLR'].end == 5
    types = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert 'RandomErasing' not in types
    out = run_pipeline(cfg.train_dataloader.dataset.pipeline, size=(32, 32))
    assert out['inputs'].shape == (3, 224, 224)
