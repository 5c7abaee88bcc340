"""Tiny configs of the three tasks for the robustness tests (seconds on a CPU core)."""
import os.path as osp

from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_ARCH = dict(layers=[1, 1, 1, 1], patch_sizes=[7, 2, 1, 1], embed_dims=[16, 32, 32, 32],
                 hidden_sizes=[4, 8, 8, 8], mlp_ratios=[2, 2, 2, 2])
IMPORTS = dict(imports=['mmseq.models', 'mmseq.models.decode_heads', 'mmseq.engine'],
               allow_failed_imports=False)


def classifier_cfg(num_classes: int = 5) -> dict:
    return dict(
        type='ImageClassifier',
        data_preprocessor=dict(type='ClsDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], to_rgb=True,
                               num_classes=num_classes),
        backbone=dict(type='mmseq.Sequencer2D', arch=dict(TINY_ARCH), out_indices=(3, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=32,
                  loss=dict(type='CrossEntropyLoss')))


def segmentor_cfg(num_classes: int = 4) -> dict:
    """The project's Semantic FPN base model, shrunk (BN instead of SyncBN)."""
    base = Config.fromfile(osp.join(REPO, 'configs/_base_/models/sem_fpn_seq2d.py'))
    model = base.model.to_dict()
    model['backbone']['arch'] = dict(TINY_ARCH)
    model['neck'].update(in_channels=[16, 32, 32, 32], out_channels=16)
    model['decode_head'].update(in_channels=[16] * 4, channels=8, num_classes=num_classes,
                                norm_cfg=dict(type='BN', requires_grad=True))
    return model


def detector_cfg(num_classes: int = 3) -> dict:
    """The project's RetinaNet base model, shrunk."""
    base = Config.fromfile(osp.join(REPO, 'configs/_base_/models/retinanet_seq2d.py'))
    model = base.model.to_dict()
    model['backbone']['arch'] = dict(TINY_ARCH)
    model['neck'].update(in_channels=[16, 32, 32, 32], out_channels=16)
    model['bbox_head'].update(num_classes=num_classes, in_channels=16, feat_channels=16,
                              stacked_convs=1)
    return model


TASKS = {
    'cls': ('mmpretrain', classifier_cfg),
    'seg': ('mmseg', segmentor_cfg),
    'det': ('mmdet', detector_cfg),
}


def build_model(task: str, **backbone_overrides):
    """Build a tiny model of ``task`` through its library's registry (as the tools do)."""
    import mmseq.engine  # noqa: F401  registers the engine parts
    import mmseq.models  # noqa: F401
    import mmseq.models.decode_heads  # noqa: F401
    from mmengine.registry import MODELS, init_default_scope
    scope, make = TASKS[task]
    cfg = make()
    cfg['backbone'].update(backbone_overrides)
    init_default_scope(scope)
    model = MODELS.build(cfg)
    return model.eval()


def write_cls_train_config(path: str, data_root: str, max_epochs: int = 3,
                           checkpoint_hook: str = 'mmseq.AtomicCheckpointHook',
                           extra: str = '') -> str:
    """A deterministic CPU training config of the tiny classifier on ``make_imagenet`` data:
    no random augmentation, no drop path, SGD, one checkpoint per epoch."""
    text = f'''
custom_imports = {IMPORTS!r}
default_scope = 'mmpretrain'
model = {classifier_cfg(num_classes=4)!r}
pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(28, 28)),
            dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=4, num_workers=0,
    dataset=dict(type='ImageNet', data_root={data_root!r}, split='train', pipeline=pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
test_dataloader = dict(
    batch_size=4, num_workers=0,
    dataset=dict(type='ImageNet', data_root={data_root!r}, split='val', pipeline=pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
test_evaluator = dict(type='Accuracy', topk=(1, ))
test_cfg = dict()
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9))
param_scheduler = [dict(type='CosineAnnealingLR', T_max={max_epochs}, by_epoch=True)]
train_cfg = dict(by_epoch=True, max_epochs={max_epochs})
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=1),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type={checkpoint_hook!r}, interval=1, max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'),
               mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0))
randomness = dict(seed=1234, deterministic=True)
log_level = 'WARNING'
'''
    with open(path, 'w') as f:
        f.write(text + extra)
    return path


def make_cls_data(root: str) -> str:
    from mmseq.utils.synthetic_data import make_imagenet
    make_imagenet(root, num_classes=4, per_class=4, size=32, val_per_class=1, seed=0)
    return root


def subprocess_env() -> dict:
    import os
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([REPO, osp.dirname(osp.abspath(__file__))]))
    return env
