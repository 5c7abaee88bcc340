"""A segmentor or detector whose neck or heads assume another pyramid than Sequencer2D's stops on
its first forward with a message naming the config keys and their right values; the shipped
configs (on the real pyramid) pass. The models are built from the libraries' own configs with
only the backbone swapped, as a user would start."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmseq.models  # noqa: F401
import mmseq.models.decode_heads  # noqa: F401
from mmseq.models.utils.pyramid import PyramidMismatchError

from helpers import REPO

BACKBONE = dict(_delete_=True, type='Sequencer2D', arch=dict(
    layers=[1, 1, 1, 1], patch_sizes=[7, 2, 1, 1], embed_dims=[192, 384, 384, 384],
    hidden_sizes=[8, 8, 8, 8], mlp_ratios=[1, 1, 1, 1]), out_indices=(0, 1, 2, 3))


def build(base: str, scope: str, out_indices=(0, 1, 2, 3), **model):
    """The library's config ``base`` with the backbone swapped and ``model`` merged in."""
    model = dict(backbone=dict(BACKBONE, out_indices=out_indices), **model)
    if scope == 'mmseg':
        model['pretrained'] = None  # mmseg's configs name a ResNet checkpoint there
    cfg = Config.fromstring(f'_base_ = {base!r}\nmodel = {model!r}\n', '.py')
    init_default_scope(scope)
    from mmengine.registry import MODELS
    return MODELS.build(cfg.model)


def first_forward(model):
    with torch.no_grad():
        return model.extract_feat(torch.randn(1, 3, 56, 56))


def test_mmseg_fpn_head_with_resnet_strides():
    model = build('mmseg::sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py', 'mmseg',
                  neck=dict(in_channels=[192, 384, 384, 384]))
    with pytest.raises(PyramidMismatchError) as error:
        first_forward(model)
    message = str(error.value)
    assert ('model.decode_head.feature_strides = [4, 8, 16, 32]: set it to [7, 14, 14, 14] '
            "with type='StridedFPNHead'") in message, message
    # mmseg's config pads the crops to 512, no multiple of 14
    assert 'model.data_preprocessor.size = (512, 512): set size=None and size_divisor=14' \
        in message, message
    assert 'dense_prediction.md' in message
    # it keeps stopping: a caught error does not let the next forward through
    with pytest.raises(PyramidMismatchError):
        first_forward(model)


def test_neck_channels_named():
    model = build('mmseg::sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py', 'mmseg')
    with pytest.raises(PyramidMismatchError,
                       match=r'model\.neck\.in_channels = \[256, 512, 1024, 2048\]: set it to '
                             r'\[192, 384, 384, 384\]'):
        first_forward(model)


def test_faster_rcnn_with_default_anchor_and_roi_strides():
    model = build('mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', 'mmdet',
                  neck=dict(in_channels=[192, 384, 384, 384]))
    with pytest.raises(PyramidMismatchError) as error:
        first_forward(model)
    message = str(error.value)
    for line in [
            'model.rpn_head.anchor_generator.strides = [4, 8, 16, 32, 64]: set it to '
            '[7, 14, 14, 14, 28], and base_sizes=[4, 8, 16, 32, 64]',
            'model.roi_head.bbox_roi_extractor.featmap_strides = [4, 8, 16, 32]: set it to '
            '[7, 14, 14, 14]',
            'the neck gives strides [7, 14, 14, 14, 28]']:
        assert line in message, message


def test_faster_rcnn_fixed_as_the_message_says():
    strides = [7, 14, 14, 14]
    model = build('mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', 'mmdet',
                  neck=dict(in_channels=[192, 384, 384, 384]),
                  rpn_head=dict(anchor_generator=dict(strides=strides + [28],
                                                      base_sizes=[4, 8, 16, 32, 64])),
                  roi_head=dict(bbox_roi_extractor=dict(featmap_strides=strides)))
    feats = first_forward(model)
    assert [f.shape[-1] for f in feats] == [8, 4, 4, 4, 2]


def test_retinanet_anchors():
    model = build('mmdet::retinanet/retinanet_r50_fpn_1x_coco.py', 'mmdet', out_indices=(1, 2, 3),
                  neck=dict(in_channels=[384, 384, 384], start_level=0))
    with pytest.raises(PyramidMismatchError,
                       match=r'model\.bbox_head\.anchor_generator\.strides = \[8, 16, 32, 64, '
                             r'128\]: set it to \[14, 14, 14, 28, 56\]'):
        first_forward(model)


@pytest.mark.parametrize('config', [
    'configs/sem_fpn_seq2d_s_ade20k.py', 'configs/upernet_seq2d_s_ade20k.py',
    'configs/retinanet_seq2d_s_coco.py', 'configs/retinanet_seq2d_s_custom.py',
    'configs/mask_rcnn_seq2d_s_coco.py'])
def test_shipped_configs_pass(config):
    from mmseq.apis import init_model
    model = init_model(f'{REPO}/{config}', cfg_options={
        'model.backbone.arch': dict(_delete_=True, **BACKBONE['arch'])})
    first_forward(model)
    assert model.backbone._pyramid_checked


def test_backbone_alone_and_unknown_owners_are_left_alone():
    from mmseq.models import Sequencer2D
    backbone = Sequencer2D(arch=BACKBONE['arch'], out_indices=(0, 1))
    backbone(torch.randn(1, 3, 28, 28))
    holder = torch.nn.Module()
    holder.backbone = backbone
    holder.neck = torch.nn.Conv2d(3, 3, 1)  # a neck this check does not know
    backbone._pyramid_checked = False
    backbone(torch.randn(1, 3, 28, 28))
    assert backbone._pyramid_checked


def test_pretrained_of_mmseg_configs_is_refused_with_the_fix():
    from mmseq.models import Sequencer2D
    with pytest.raises(TypeError, match=r'set model\.pretrained=None'):
        Sequencer2D(pretrained='open-mmlab://resnet50_v1c')
