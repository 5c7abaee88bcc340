# The tiny ADE20K-style pipelines the tiny segmentation configs share (56 px crops of the
# generated data, test scale 140x56), as variables: a config names them with
# {{_base_.tiny_ade_train_pipeline}} (two bases may not both set train_pipeline).
tiny_ade_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(140, 56), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=(56, 56), cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
tiny_ade_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(140, 56), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
