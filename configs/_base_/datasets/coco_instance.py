# COCO 2017 instance segmentation (80 classes, boxes and polygon masks): mmdet's
# coco_instance.py as it is (1333x800, flip; bbox and segm mAP); its 2 images per GPU make
# Swin's / ConvNeXt's total batch of 16 on 8 GPUs.
# Layout: data/coco/{train2017,val2017}/*.jpg, data/coco/annotations/instances_{train,val}2017.json
_base_ = 'mmdet::_base_/datasets/coco_instance.py'
