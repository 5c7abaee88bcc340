# Mask R-CNN + Sequencer2D-S on your own images with COCO-format boxes and masks (polygons or
# RLE). Copy this file next to it (e.g. configs/my_data.py), change the block below, check the
# data, train and test:
#   python tools/misc/check_dataset.py configs/my_data.py
#   tools/dist_train.sh configs/my_data.py 8
#   tools/dist_test.sh  configs/my_data.py work_dirs/my_data/epoch_12.pth 8 --show-dir vis
# Layout: images in <data_root>/<images>/{train,val}/, and one COCO json per split whose
# "file_name"s are relative to that folder and whose category names are `classes`, in the
# order of their ids.
# ---- what to change -------------------------------------------------------------------------
data_root = 'data/my_data/'
classes = ('cat', 'dog')
palette = [(220, 20, 60), (0, 0, 142)]  # one RGB colour per class, for the visualisations
images = 'img_dir/'
annotations = 'annotations/instances_{}.json'  # {} = train / val
scale = (1333, 800)  # images are resized to fit (long side, short side)
# ----------------------------------------------------------------------------------------------
_base_ = './mask_rcnn_seq2d_s_coco.py'
custom_imports = dict(imports=['mmseq.models', 'mmseq.engine', 'mmseq.datasets'],
                      allow_failed_imports=False)

model = dict(roi_head=dict(bbox_head=dict(num_classes=len(classes)),
                           mask_head=dict(num_classes=len(classes))))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
# mmdet's CocoDataset that also checks `classes` against the annotation file's categories.
dataset = dict(type='mmseq.CheckedCocoDataset', data_root=data_root,
               metainfo=dict(classes=classes, palette=palette))
train_dataloader = dict(dataset=dict(
    _delete_=True, **dataset, ann_file=annotations.format('train'),
    data_prefix=dict(img=images + 'train/'), pipeline=train_pipeline,
    filter_cfg=dict(filter_empty_gt=True, min_size=4)))
val_dataloader = dict(dataset=dict(
    _delete_=True, **dataset, ann_file=annotations.format('val'),
    data_prefix=dict(img=images + 'val/'), pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + annotations.format('val'), metric=['bbox', 'segm'])
test_evaluator = val_evaluator
