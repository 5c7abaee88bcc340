# RetinaNet (Lin et al., 2017) on a Sequencer2D backbone (mmdet). Paper App. C.5 / Table 11.
# Top-level configs set the arch and the checkpoint.
#
# The pyramid, as it really is:
#   backbone   stages 0..3: strides 7, 14, 14, 14; channels 192, 384, 384, 384. RetinaNet
#              uses stages 1..3 (the paper's FPN(in_channels=[192, 384, 384, 384],
#              start_level=1) without its unused stage-0 output norm, whose 384 parameters
#              DDP would reject as unused; same levels, same weights otherwise)
#   FPN        P levels from stages 1, 2, 3 (stride 14 each), then two stride-2 extra convs
#              on stage 3 ('on_input') -> strides 28, 56
#   anchors    strides [14, 14, 14, 28, 56] (where the anchor centres are), base sizes
#              [8, 16, 32, 64, 128] (how big they are): with octave_base_scale=4 and 3 scales
#              per octave the anchors span 32..512 px level by level as in RetinaNet, although
#              three levels share stride 14.
#   padding    to a multiple of 56, the largest stride, so every level's size is exactly
#              (padded input) / stride and the backbone's own padding (to 14) never fires.
custom_imports = dict(imports=['mmseq.models', 'mmseq.engine'], allow_failed_imports=False)

model = dict(
    type='RetinaNet',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=56),
    backbone=dict(
        type='Sequencer2D',
        arch='s',
        out_indices=(1, 2, 3),
        drop_path_rate=0.),
    neck=dict(
        type='FPN',
        in_channels=[384, 384, 384],
        out_channels=256,
        start_level=0,
        add_extra_convs='on_input',
        num_outs=5),
    bbox_head=dict(
        type='RetinaHead',
        num_classes=80,
        in_channels=256,
        stacked_convs=4,
        feat_channels=256,
        anchor_generator=dict(
            type='AnchorGenerator',
            octave_base_scale=4,
            scales_per_octave=3,
            ratios=[0.5, 1.0, 2.0],
            strides=[14, 14, 14, 28, 56],
            base_sizes=[8, 16, 32, 64, 128]),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[.0, .0, .0, .0],
            target_stds=[1.0, 1.0, 1.0, 1.0]),
        loss_cls=dict(
            type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
    train_cfg=dict(
        assigner=dict(
            type='MaxIoUAssigner',
            pos_iou_thr=0.5,
            neg_iou_thr=0.4,
            min_pos_iou=0,
            ignore_iof_thr=-1),
        sampler=dict(type='PseudoSampler'),  # focal loss needs no sampling
        allowed_border=-1,
        pos_weight=-1,
        debug=False),
    test_cfg=dict(
        nms_pre=1000,
        min_bbox_size=0,
        score_thr=0.05,
        nms=dict(type='nms', iou_threshold=0.5),
        max_per_img=100))
