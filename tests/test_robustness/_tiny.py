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
