# Multi-scale + flip test of configs/upernet_seq2d_m_ade20k.py (test only): mmseg's SegTTAModel
# (the runtime's tta_model) around the single-scale model, the test loader on the base's
# tta_pipeline; what mmseg's `tools/test.py configs/upernet_seq2d_m_ade20k.py CKPT --tta` runs.
#   tools/dist_test.sh configs/upernet_seq2d_m_ade20k_ms.py CKPT 8
_base_ = './upernet_seq2d_m_ade20k.py'
model = dict(_base_.tta_model, module=_base_.model, _delete_=True)
test_dataloader = dict(dataset=dict(pipeline=_base_.tta_pipeline))
