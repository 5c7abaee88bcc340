# Sequencer2D image classifier (mmpretrain). Top-level configs set the arch and drop path.
custom_imports = dict(imports=['mmseq.models', 'mmseq.engine'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='Sequencer2D', arch='s', drop_path_rate=0.1, out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=384,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='Normal', layer='Linear', std=0.01)),
    # Table 6: mixup 0.8 and cutmix 1.0, one of the two per batch.
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]),
)
