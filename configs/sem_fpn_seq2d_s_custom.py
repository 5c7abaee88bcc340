# Semantic FPN + Sequencer2D-S on your own images. Copy this file next to it (e.g.
# configs/my_data.py), change the block below, check the data, train and test:
#   python tools/misc/check_dataset.py configs/my_data.py
#   tools/dist_train.sh configs/my_data.py 8
#   tools/dist_test.sh  configs/my_data.py work_dirs/my_data/iter_40000.pth 8 --show-dir vis
# Layout (same file names in both folders, the label map's extension is .png):
#   <data_root>/img_dir/{train,val}/NAME.<img_suffix>   images
#   <data_root>/ann_dir/{train,val}/NAME.png            label maps, one class index per pixel
#                                                       (0 .. len(classes) - 1; 255 = ignore)
# ---- what to change -------------------------------------------------------------------------
data_root = 'data/my_data'
classes = ('background', 'foreground')
palette = [[0, 0, 0], [255, 0, 0]]  # one RGB colour per class, for the visualisations
img_suffix = '.jpg'
crop_size = (512, 512)  # training crops; a multiple of 14 needs no padding
scale = (2048, 512)     # images are resized to fit (long side, short side) before cropping/testing
# ----------------------------------------------------------------------------------------------
_base_ = './sem_fpn_seq2d_s_ade20k.py'
custom_imports = dict(imports=['mmseq.models', 'mmseq.models.decode_heads', 'mmseq.engine',
                               'mmseq.datasets'], allow_failed_imports=False)
num_classes = len(classes)

model = dict(decode_head=dict(num_classes=num_classes))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmseq.LoadSegLabels', num_classes=num_classes),
    dict(type='RandomResize', scale=scale, ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='mmseq.LoadSegLabels', num_classes=num_classes),
    dict(type='PackSegInputs'),
]
dataset = dict(
    type='BaseSegDataset',
    data_root=data_root,
    metainfo=dict(classes=classes, palette=palette),
    img_suffix=img_suffix,
    seg_map_suffix='.png',
    reduce_zero_label=False)
train_dataloader = dict(dataset=dict(
    _delete_=True, **dataset, pipeline=train_pipeline,
    data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train')))
val_dataloader = dict(dataset=dict(
    _delete_=True, **dataset, pipeline=test_pipeline,
    data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val')))
test_dataloader = val_dataloader
# Per-class IoU, and the mean over classes (mIoU).
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
