"""UperNet (ADE20K) and Mask R-CNN (COCO) configs (issue 10, parts 5-7): Swin's / ConvNeXt's
recipes as the libraries ship them, M/L as S with another backbone, the multi-scale test, the
pyramid's measured strides in every head that assumes one, weight-decay groups, odd sizes."""
import copy
import functools
import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from helpers import REPO, config_file, padded_seg_crop, seg_batch, shallow, strides_of
from mmseq.apis import init_model

ARCHS = ['s', 'm', 'l']
DROP_PATH = {'s': 0.1, 'm': 0.2, 'l': 0.4}  # the IN-1K training's (paper Table 6)
RATIOS = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]


@functools.lru_cache(maxsize=None)
def _parsed(path):
    return Config.fromfile(path)


def load(path):
    """A fresh copy of the config at ``path`` (each file is parsed once per session)."""
    return copy.deepcopy(_parsed(path))


def upernet_cfg(arch='s', suffix=''):
    return load(f'{REPO}/configs/upernet_seq2d_{arch}_ade20k{suffix}.py')


def mask_rcnn_cfg(arch='s', suffix=''):
    return load(f'{REPO}/configs/mask_rcnn_seq2d_{arch}_coco{suffix}.py')


def library_cfg(lib, relpath):
    """A config the library ships (``<lib>/.mim/configs/<relpath>``)."""
    root = importlib.util.find_spec(lib).submodule_search_locations[0]
    return load(osp.join(root, '.mim', 'configs', relpath))


SWIN_UPERNET = 'swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py'
SWIN_MASK_RCNN = 'swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py'
SWIN_MASK_RCNN_3X = 'swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py'


def _strip_scope(d):
    if isinstance(d, dict):
        return {k: _strip_scope(v) for k, v in d.items() if k != '_scope_'}
    if isinstance(d, (list, tuple)):
        return type(d)(_strip_scope(v) for v in d)
    return d


def same(a, b):
    """Equal config values, ignoring the ``_scope_`` keys mmengine adds to what a config
    takes from a library's base."""
    return _strip_scope(a) == _strip_scope(b)


# ---------------------------------------------------------------- recipes

@pytest.mark.parametrize('arch', ARCHS)
def test_upernet_recipe(arch):
    cfg, swin = upernet_cfg(arch), library_cfg('mmseg', SWIN_UPERNET)
    assert cfg.default_scope == 'mmseg'
    bb, head, aux = cfg.model.backbone, cfg.model.decode_head, cfg.model.auxiliary_head
    assert bb.type == 'Sequencer2D' and bb.arch == arch and bb.out_indices == (0, 1, 2, 3)
    assert bb.drop_path_rate == DROP_PATH[arch]
    assert bb.init_cfg == dict(type='Pretrained', checkpoint=cfg.pretrained, prefix='backbone.')
    assert cfg.pretrained == f'timm://sequencer2d_{arch}.in1k'  # the public weights
    # UperNet as Swin's: the same head and auxiliary head but for the input channels.
    assert head.type == 'UPerHead' and head.in_channels == [192, 384, 384, 384]
    assert head.in_index == [0, 1, 2, 3] and head.num_classes == 150
    assert aux.type == 'FCNHead' and aux.in_index == 2 and aux.in_channels == 384
    assert aux.num_classes == 150 and aux.loss_decode.loss_weight == 0.4
    for ours, theirs in ((head, swin.model.decode_head), (aux, swin.model.auxiliary_head)):
        assert same({k: v for k, v in ours.items() if k not in ('in_channels', 'in_index')},
                    {k: v for k, v in theirs.items() if k not in ('in_channels', 'in_index')})
    assert head.norm_cfg.type == 'SyncBN'
    # 512 crops, total batch 16 on 8 GPUs, Swin's optimizer and schedule exactly.
    assert cfg.crop_size == (512, 512) and cfg.train_dataloader.batch_size * 8 == 16
    assert same(cfg.train_pipeline, swin.train_pipeline)
    assert same(cfg.test_pipeline, swin.test_pipeline)
    assert same(cfg.optim_wrapper.optimizer, swin.optim_wrapper.optimizer)
    assert cfg.optim_wrapper.optimizer == dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999),
                                               weight_decay=0.01)
    assert cfg.optim_wrapper.paramwise_cfg == dict(custom_keys={'norm': dict(decay_mult=0.)})
    assert same(cfg.param_scheduler, swin.param_scheduler)
    warmup, poly = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and warmup.end == 1500 and warmup.by_epoch is False
    assert poly.type == 'PolyLR' and poly.power == 1.0 and poly.eta_min == 0
    assert (poly.begin, poly.end) == (1500, 160000)
    assert same(cfg.train_cfg, swin.train_cfg) and cfg.train_cfg.max_iters == 160000
    assert cfg.val_evaluator.iou_metrics == ['mIoU']
    assert same(cfg.test_evaluator, swin.test_evaluator)
    assert cfg.model.test_cfg.mode == 'whole'
    assert cfg.default_hooks.checkpoint.type == 'mmseq.AtomicCheckpointHook'


@pytest.mark.parametrize('arch', ARCHS)
@pytest.mark.parametrize('suffix', ['', '_3x'])
def test_mask_rcnn_recipe(arch, suffix):
    cfg = mask_rcnn_cfg(arch, suffix)
    swin = library_cfg('mmdet', SWIN_MASK_RCNN_3X if suffix else SWIN_MASK_RCNN)
    assert cfg.default_scope == 'mmdet' and cfg.model.type == 'MaskRCNN'
    bb, neck = cfg.model.backbone, cfg.model.neck
    assert bb.type == 'Sequencer2D' and bb.arch == arch and bb.out_indices == (0, 1, 2, 3)
    assert bb.drop_path_rate == DROP_PATH[arch]
    assert bb.init_cfg == dict(type='Pretrained', checkpoint=cfg.pretrained, prefix='backbone.')
    assert cfg.pretrained == f'timm://sequencer2d_{arch}.in1k'  # the public weights
    assert neck.type == 'FPN' and neck.in_channels == [192, 384, 384, 384]
    assert neck.num_outs == 5 and not neck.get('add_extra_convs', False)
    roi = cfg.model.roi_head
    assert roi.bbox_head.num_classes == 80 and roi.mask_head.num_classes == 80
    # Swin's heads, losses and train / test settings but for the strides.
    ours, theirs = cfg.model.to_dict(), swin.model.to_dict()
    for model in (ours, theirs):
        model.pop('backbone')
        model['neck'].pop('in_channels')
        model['data_preprocessor'].pop('pad_size_divisor')
        model['rpn_head']['anchor_generator'].pop('strides')
        model['rpn_head']['anchor_generator'].pop('base_sizes', None)
        for ext in ('bbox_roi_extractor', 'mask_roi_extractor'):
            model['roi_head'][ext].pop('featmap_strides')
    assert same(ours, theirs)
    assert cfg.train_dataloader.batch_size * 8 == 16
    assert same(cfg.train_pipeline, swin.train_pipeline)
    assert same(cfg.test_pipeline, swin.test_pipeline)
    assert same(cfg.train_dataloader.dataset.pipeline, swin.train_dataloader.dataset.pipeline)
    assert same(cfg.optim_wrapper.optimizer, swin.optim_wrapper.optimizer)
    assert cfg.optim_wrapper.optimizer == dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999),
                                               weight_decay=0.05)
    assert cfg.optim_wrapper.paramwise_cfg == dict(custom_keys={'norm': dict(decay_mult=0.)})
    assert same(cfg.param_scheduler, swin.param_scheduler)
    assert cfg.param_scheduler[0].end == 1000 and cfg.param_scheduler[0].by_epoch is False
    epochs, milestones = (36, [27, 33]) if suffix else (12, [8, 11])
    assert cfg.train_cfg.max_epochs == epochs and cfg.param_scheduler[1].milestones == milestones
    assert cfg.val_evaluator.type == 'CocoMetric'
    assert cfg.val_evaluator.metric == cfg.test_evaluator.metric == ['bbox', 'segm']
    if suffix:
        # multi-scale training: 11 short sides 480..800, or the random-crop branch
        choice = cfg.train_pipeline[3]
        assert choice.type == 'RandomChoice' and len(choice.transforms) == 2
        assert [s[0] for s in choice.transforms[0][0].scales] == list(range(480, 801, 32))


def _without_arch(cfg):
    d = copy.deepcopy(cfg.to_dict())
    d.pop('pretrained')
    model = d['model'].get('module', d['model'])  # the TTA model holds the segmentor
    bb = model['backbone']
    for key in ('arch', 'drop_path_rate'):
        bb.pop(key)
    bb['init_cfg'].pop('checkpoint')
    return d


@pytest.mark.parametrize('arch', ['m', 'l'])
@pytest.mark.parametrize('family', ['upernet', 'upernet_ms', 'mask_rcnn', 'mask_rcnn_3x'])
def test_m_l_are_s_with_another_backbone(arch, family):
    load = {'upernet': lambda a: upernet_cfg(a), 'upernet_ms': lambda a: upernet_cfg(a, '_ms'),
            'mask_rcnn': lambda a: mask_rcnn_cfg(a),
            'mask_rcnn_3x': lambda a: mask_rcnn_cfg(a, '_3x')}[family]
    assert _without_arch(load(arch)) == _without_arch(load('s'))


# ---------------------------------------------------------------- multi-scale test

def _as_mmseg_tta(cfg):
    """What mmseg's tools/test.py --tta does to a config (tools/test.py, mmseg 1.2.2)."""
    cfg = copy.deepcopy(cfg)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    cfg.tta_model.module = cfg.model
    cfg.model = cfg.tta_model
    return cfg


@pytest.mark.parametrize('arch', ARCHS)
def test_upernet_ms_config_is_the_tta_path(arch):
    single, ms = upernet_cfg(arch), upernet_cfg(arch, '_ms')
    tta = _as_mmseg_tta(single)
    assert ms.model.type == 'SegTTAModel'
    assert same(ms.model.to_dict(), tta.model.to_dict())
    assert same(ms.test_dataloader.dataset.pipeline, tta.test_dataloader.dataset.pipeline)
    assert ms.val_dataloader == single.val_dataloader  # only the test loader changes
    # 2048x512 x the usual ratios, each unflipped and flipped
    resizes, flips, _, _ = single.tta_pipeline[1].transforms
    assert [r.scale for r in resizes] == [(int(2048 * r), int(512 * r)) for r in RATIOS]
    assert all(r.keep_ratio for r in resizes)
    assert [(f.prob, f.direction) for f in flips] == [(0., 'horizontal'), (1., 'horizontal')]


def test_upernet_tta_pipeline_runs(tmp_path):
    """mmseg's TestTimeAug on an ADE20K-layout image: 12 views, at 2048x512 x ratio (keep
    ratio), half of them flipped, labels loaded with the dataset's zero-label reduction."""
    from mmengine.dataset import Compose
    from mmseq.testing import make_ade20k
    init_default_scope('mmseg')
    ade = make_ade20k(str(tmp_path), n_train=0, n_val=1, size=(256, 320))['root']
    cfg = upernet_cfg()
    results = Compose(cfg.tta_pipeline)(dict(
        img_path=f'{ade}/images/validation/ADE_val_00000001.jpg',
        seg_map_path=f'{ade}/annotations/validation/ADE_val_00000001.png',
        reduce_zero_label=True, seg_fields=[]))
    shapes = [tuple(s.img_shape) for s in results['data_samples']]
    flips = [s.flip for s in results['data_samples']]
    assert len(shapes) == 12 and flips == [False, True] * 6
    # the short side (256) scaled to 512 x ratio, 5:4 kept
    expected = [(round(512 * r), round(640 * r)) for r in RATIOS]
    assert shapes[::2] == shapes[1::2] == expected
    label = results['data_samples'][0].gt_sem_seg.data
    assert label.shape[1:] == (256, 320) and set(label.unique().tolist()) <= set(range(8)) | {255}


# ---------------------------------------------------------------- geometry

def _upernet_shallow():
    cfg = shallow(upernet_cfg())
    for head in ('decode_head', 'auxiliary_head'):  # BN for SyncBN (CPU)
        cfg.model[head].norm_cfg = dict(type='BN', requires_grad=True)
    cfg.model.decode_head.channels = 32  # width only: the geometry is the real model's
    cfg.model.auxiliary_head.channels = 16
    return cfg


def test_upernet_geometry():
    """At the 512 crop: the backbone's measured strides are 7/14/14/14, the levels UPerHead
    and the auxiliary head read have the channels they expect, the logits are on the
    stride-7 grid and the labels on the padded grid."""
    cfg = _upernet_shallow()
    model = init_model(cfg)
    inputs = padded_seg_crop(model, cfg.crop_size)
    pad_h, pad_w = inputs.shape[2:]
    with torch.no_grad():
        feats = model.backbone(inputs)
        logits = model.decode_head(feats)
        aux = model.auxiliary_head(feats)
    measured = strides_of(feats, pad_h, pad_w)
    assert measured == [7, 14, 14, 14]
    head, aux_head = model.decode_head, model.auxiliary_head
    assert [feats[i].shape[1] for i in head.in_index] == list(head.in_channels)
    assert feats[aux_head.in_index].shape[1] == aux_head.in_channels == 384
    assert measured[aux_head.in_index] == 14
    # UPerHead fuses on its first input's grid: logits at stride 7, aux logits at 14
    assert logits.shape[2] * measured[head.in_index[0]] == pad_h and logits.shape[1] == 150
    assert aux.shape[2] * measured[aux_head.in_index] == pad_h


def test_upernet_odd_input_size():
    """Logits at the input's 317x251; a training step at an odd size (labels padded on the
    logits' grid) gives finite losses of both heads."""
    model = init_model(_upernet_shallow())
    h, w = 317, 251
    with torch.no_grad():
        (pred, ) = model.test_step(seg_batch(h, w, with_gt=False))
    assert tuple(pred.seg_logits.data.shape) == (150, h, w)
    assert tuple(pred.pred_sem_seg.data.shape) == (1, h, w)
    model.train()
    # two images: the pyramid pooling's 1x1 BN needs more than one value per channel
    data = model.data_preprocessor(seg_batch(107, 93, n=2), training=True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert torch.isfinite(losses['decode.loss_ce']) and torch.isfinite(losses['aux.loss_ce'])


def _det_inputs(model, h, w, training=False):
    from mmdet.structures import DetDataSample
    sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                         scale_factor=(1., 1.)))
    return model.data_preprocessor(
        dict(inputs=[torch.randint(0, 256, (3, h, w), dtype=torch.uint8)],
             data_samples=[sample]), training=training)


def test_mask_rcnn_geometry():
    """At 1280x800: the measured strides of the FPN levels are the RPN anchor strides and the
    RoI extractors' featmap_strides; anchor centres sit on each level's grid, anchor sizes grow
    level by level (32..512); RoIAlign reads each level at 1/stride, and RoIs of each size go
    to the level Mask R-CNN's rule picks."""
    cfg = shallow(mask_rcnn_cfg())
    model = init_model(cfg)
    init_default_scope('mmdet')
    divisor = cfg.model.data_preprocessor.pad_size_divisor
    # the test scale 1333x800 pads to a multiple of the largest stride too
    assert tuple(_det_inputs(model, 800, 1333)['inputs'].shape[2:]) == (812, 1344)
    inputs = _det_inputs(model, 800, 1280)['inputs']
    pad_h, pad_w = inputs.shape[2:]
    assert (pad_h, pad_w) == (812, 1288) and divisor % model.backbone.total_stride == 0
    with torch.no_grad():
        feats = model.backbone(inputs)
        outs = model.neck(feats)
    assert strides_of(feats, pad_h, pad_w) == [7, 14, 14, 14]
    assert [f.shape[1] for f in feats] == list(cfg.model.neck.in_channels)
    measured = strides_of(outs, pad_h, pad_w)
    assert measured == [7, 14, 14, 14, 28] and divisor % max(measured) == 0
    gen = model.rpn_head.prior_generator
    assert [tuple(s) for s in gen.strides] == [(s, s) for s in measured]

    sizes = [f.shape[2:] for f in outs]
    priors = gen.grid_priors(sizes, device='cpu')
    prev_max = 0.
    for level, (anchors, (fh, fw), s) in enumerate(zip(priors, sizes, measured)):
        na = gen.num_base_priors[level]
        assert anchors.shape[0] == fh * fw * na
        centres = ((anchors[:, :2] + anchors[:, 2:]) / 2).view(fh, fw, na, 2)
        xs = torch.arange(fw, dtype=torch.float32) * s
        ys = torch.arange(fh, dtype=torch.float32) * s
        assert torch.allclose(centres[..., 0], xs.view(1, fw, 1).expand(fh, fw, na), atol=1e-3)
        assert torch.allclose(centres[..., 1], ys.view(fh, 1, 1).expand(fh, fw, na), atol=1e-3)
        side = ((anchors[:na, 2] - anchors[:na, 0]) * (anchors[:na, 3] - anchors[:na, 1])).sqrt()
        assert side.min() == pytest.approx(32 * 2 ** level, rel=1e-3)
        assert side.min() > prev_max * 0.99
        prev_max = side.max().item()

    # RoIAlign on maps whose channels are the x and y cell index and the level: a box's pooled
    # x / y are its centre / stride - 0.5 (cell j's centre is pixel (j + 0.5) * stride) iff
    # the extractor assumes the real stride; channel 2 says which level the box was read from.
    levels = outs[:4]
    ramps = []
    for level, f in enumerate(levels):
        fh, fw = f.shape[2:]
        ramp = torch.zeros(1, f.shape[1], fh, fw)
        ramp[0, 0] = torch.arange(fw, dtype=torch.float32).view(1, fw)
        ramp[0, 1] = torch.arange(fh, dtype=torch.float32).view(fh, 1)
        ramp[0, 2] = level
        ramps.append(ramp)
    # sqrt(area) 80, 160, 320, 640 px -> levels 0..3 (finest_scale 56)
    boxes = torch.tensor([[0, 100., 120., 180., 200.], [0, 300., 90., 460., 250.],
                          [0, 500., 200., 820., 520.], [0, 600., 150., 1240., 790.]])
    for name in ('bbox_roi_extractor', 'mask_roi_extractor'):
        extractor = getattr(model.roi_head, name)
        assert list(extractor.featmap_strides) == measured[:4]
        assert [layer.spatial_scale for layer in extractor.roi_layers] == \
            [1. / s for s in measured[:4]]
        with torch.no_grad():
            pooled = extractor(ramps, boxes)
        for (_, x1, y1, x2, y2), p, level in zip(boxes.tolist(), pooled, range(4)):
            s = measured[level]
            assert p[2].mean().item() == pytest.approx(level)
            assert p[0].mean().item() == pytest.approx((x1 + x2) / 2 / s - 0.5, abs=1e-3)
            assert p[1].mean().item() == pytest.approx((y1 + y2) / 2 / s - 0.5, abs=1e-3)


def test_mask_rcnn_odd_input_size():
    """The tiny Mask R-CNN at 317x251: boxes inside the image, one full-size mask per box;
    a training step with a polygon-sized mask gives finite RPN, box and mask losses."""
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    cfg = load(config_file('tiny_mask_rcnn_coco.py'))
    model = init_model(cfg)
    init_default_scope('mmdet')
    h, w = 317, 251

    def batch(with_gt):
        sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                             scale_factor=(1., 1.)))
        if with_gt:
            mask = np.zeros((1, h, w), np.uint8)
            mask[0, 30:200, 20:120] = 1
            sample.gt_instances = InstanceData(bboxes=torch.tensor([[20., 30., 120., 200.]]),
                                               labels=torch.tensor([3]),
                                               masks=BitmapMasks(mask, h, w))
        return dict(inputs=[torch.randint(0, 256, (3, h, w), dtype=torch.uint8)],
                    data_samples=[sample])

    with torch.no_grad():
        (pred, ) = model.test_step(batch(False))
    boxes, masks = pred.pred_instances.bboxes, pred.pred_instances.masks
    assert boxes.shape[0] > 0 and tuple(masks.shape) == (boxes.shape[0], h, w)
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all()
    model.train()
    data = model.data_preprocessor(batch(True), training=True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert {'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox', 'loss_mask'} <= set(losses)
    assert all(torch.isfinite(sum(v) if isinstance(v, list) else v).all()
               for v in losses.values())


# ---------------------------------------------------------------- weight decay

@pytest.mark.parametrize('config,wd', [('tiny_upernet_ade20k.py', 0.01),
                                       ('tiny_mask_rcnn_coco.py', 0.05)])
def test_no_decay_exactly_on_backbone_norms(config, wd):
    """The optimizer the configs build: weight decay 0 on the backbone's LayerNorms (every
    one of them) and the recipe's decay on every other parameter."""
    cfg = load(config_file(config))
    model = init_model(cfg)
    init_default_scope(cfg.default_scope)
    optimizer = build_optim_wrapper(model, cfg.optim_wrapper).optimizer
    names = {id(p): n for n, p in model.named_parameters()}
    decay = {names[id(p)]: g['weight_decay'] for g in optimizer.param_groups
             for p in g['params']}
    assert set(decay) == set(names.values())  # every parameter is optimised
    norms = {f'backbone.{m}.{p}' for m, mod in model.backbone.named_modules()
             if isinstance(mod, torch.nn.LayerNorm) for p, _ in mod.named_parameters()}
    assert len(norms) == 2 * (2 * 4 + 4)  # norm1/norm2 of 4 blocks + 4 output norms, w and b
    assert {n for n, d in decay.items() if d == 0} == norms
    assert {d for n, d in decay.items() if n not in norms} == {wd}


# ---------------------------------------------------------------- parameter counts

@pytest.mark.parametrize('family,expected', [
    ('upernet', dict(backbone=27268608, decode_head=29088918, auxiliary_head=923798)),
    ('mask_rcnn', dict(backbone=27268608, neck=2705408, rpn_head=593935, roi_head=16949985)),
])
def test_s_parameter_counts(family, expected):
    """The S models' parameters, part by part, as docs/dense_prediction.md states them (M and
    L differ only in the backbone: test_m_l_are_s_with_another_backbone)."""
    cfg = upernet_cfg() if family == 'upernet' else mask_rcnn_cfg()
    model = init_model(cfg)
    parts = {name: sum(p.numel() for p in child.parameters())
             for name, child in model.named_children() if name != 'data_preprocessor'}
    assert parts == expected
    assert sum(p.numel() for p in model.parameters()) == sum(expected.values())
