# ADE20K (SceneParsing, 150 classes) with 512x512 training crops: mmseg's ade20k.py as it is;
# its 4 images per GPU make the paper's total batch of 32 on 8 GPUs (App. C.4).
# Layout: data/ade/ADEChallengeData2016/{images,annotations}/{training,validation}/
#   images/*.jpg, annotations/*.png with 0 = "other" (ignored via reduce_zero_label), 1..150.
_base_ = 'mmseg::_base_/datasets/ade20k.py'
