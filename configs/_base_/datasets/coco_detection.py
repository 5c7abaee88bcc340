# COCO 2017 detection (80 classes): mmdet's coco_detection.py as it is; its 2 images per GPU
# make the paper's total batch of 16 on 8 GPUs (App. C.5).
# Layout: data/coco/{train2017,val2017}/*.jpg, data/coco/annotations/instances_{train,val}2017.json
_base_ = 'mmdet::_base_/datasets/coco_detection.py'
