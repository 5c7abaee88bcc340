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


def _widths(out_indices) -> list:
    """Tiny-arch channels of the stages the base config feeds to its neck."""
    return [TINY_ARCH['embed_dims'][i] for i in out_indices]


def segmentor_cfg(num_classes: int = 4) -> dict:
    """The project's Semantic FPN base model, shrunk (BN instead of SyncBN)."""
    base = Config.fromfile(osp.join(REPO, 'configs/_base_/models/sem_fpn_seq2d.py'))
    model = base.model.to_dict()
    model['backbone']['arch'] = dict(TINY_ARCH)
    model['neck'].update(in_channels=_widths(model['backbone']['out_indices']), out_channels=16)
    model['decode_head'].update(in_channels=[16] * 4, channels=8, num_classes=num_classes,
                                norm_cfg=dict(type='BN', requires_grad=True))
    return model


def detector_cfg(num_classes: int = 3) -> dict:
    """The project's RetinaNet base model, shrunk."""
    base = Config.fromfile(osp.join(REPO, 'configs/_base_/models/retinanet_seq2d.py'))
    model = base.model.to_dict()
    model['backbone']['arch'] = dict(TINY_ARCH)
    # FPN reads the backbone outputs the base config asks for (stages 1..3 for RetinaNet).
    model['neck'].update(in_channels=_widths(model['backbone']['out_indices']), out_channels=16)
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
    from mmseq.testing import make_imagenet
    make_imagenet(root, num_classes=4, per_class=4, size=32, val_per_class=1, seed=0)
    return root


def subprocess_env() -> dict:
    import os
    # One thread, and MKL's conditional numerical reproducibility: without it MKL may pick
    # kernels by memory alignment, and two identical runs can differ in the last bits.
    # mmseq is the installed package; this folder is on the path for the configs that
    # custom-import _fault_hooks.
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', MKL_CBWR='COMPATIBLE',
               PYTHONPATH=osp.dirname(osp.abspath(__file__)))
    return env


def _write_iter_config(path: str, scope: str, model: dict, dataset: dict, max_iters: int,
                       batch_size: int = 2) -> str:
    text = f'''
custom_imports = {IMPORTS!r}
default_scope = {scope!r}
model = {model!r}
train_dataloader = dict(batch_size={batch_size}, num_workers=0,
                        sampler=dict(type='DefaultSampler', shuffle=True),
                        dataset={dataset!r})
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
train_cfg = dict(type='IterBasedTrainLoop', max_iters={max_iters})
default_hooks = dict(logger=dict(type='LoggerHook', interval=1),
                     checkpoint=dict(type='mmseq.AtomicCheckpointHook', by_epoch=False,
                                     interval={max_iters}))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'),
               mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0))
randomness = dict(seed=0)
log_level = 'WARNING'
'''
    with open(path, 'w') as f:
        f.write(text)
    return path


def write_seg_train_config(path: str, data_root: str, max_iters: int = 2) -> str:
    """Tiny Semantic FPN on ``make_ade20k`` data (ADE20KDataset, 150 classes)."""
    from mmseq.testing import make_ade20k
    ade = make_ade20k(data_root, n_train=4, n_val=1, size=(42, 56))['root']
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='LoadAnnotations', reduce_zero_label=True),
                dict(type='PackSegInputs')]
    dataset = dict(type='ADE20KDataset', data_root=ade, reduce_zero_label=True,
                   data_prefix=dict(img_path='images/training',
                                    seg_map_path='annotations/training'),
                   pipeline=pipeline)
    return _write_iter_config(path, 'mmseg', segmentor_cfg(num_classes=150), dataset,
                              max_iters)


def write_det_train_config(path: str, data_root: str, max_iters: int = 2) -> str:
    """Tiny RetinaNet on ``make_coco`` data (CocoDataset, 80 classes)."""
    from mmseq.testing import make_coco
    make_coco(data_root, n_train=4, n_val=1, size=(56, 84))
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
                dict(type='PackDetInputs')]
    dataset = dict(type='CocoDataset', data_root=data_root,
                   ann_file='annotations/instances_train2017.json',
                   data_prefix=dict(img='train2017/'),
                   filter_cfg=dict(filter_empty_gt=True, min_size=1), pipeline=pipeline)
    return _write_iter_config(path, 'mmdet', detector_cfg(num_classes=80), dataset,
                              max_iters)
