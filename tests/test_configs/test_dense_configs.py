"""Segmentation / detection configs: the paper's recipes (App. C.4, C.5), parameter counts
(Tables 3 and 11), a pyramid geometry that is true, and odd input sizes."""
import copy
import glob
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from helpers import REPO, padded_seg_crop, seg_batch, shallow, strides_of
from mmseq.apis import init_model

ARCHS = ['s', 'm', 'l']
# Paper Table 3 (Semantic FPN, whole model, integer M) and Table 11 (RetinaNet, 0.1M).
SEG_PARAMS_M = {'s': 32, 'm': 42, 'l': 58}
DET_PARAMS_M = {'s': 37.3, 'm': 47.9, 'l': 63.9}


def seg_cfg(repo_root, arch='s'):
    return Config.fromfile(f'{repo_root}/configs/sem_fpn_seq2d_{arch}_ade20k.py')


def det_cfg(repo_root, arch='s'):
    return Config.fromfile(f'{repo_root}/configs/retinanet_seq2d_{arch}_coco.py')


def num_params(model):
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- recipes

@pytest.mark.parametrize('arch', ARCHS)
def test_seg_recipe(repo_root, arch):
    cfg = seg_cfg(repo_root, arch)
    assert cfg.default_scope == 'mmseg'
    assert 'mmseq.models.decode_heads' in cfg.custom_imports.imports
    bb, neck, head = cfg.model.backbone, cfg.model.neck, cfg.model.decode_head
    assert bb.type == 'Sequencer2D' and bb.arch == arch and bb.out_indices == (0, 1, 2, 3)
    # The IN-1K checkpoint comes from the one variable at the top of the config.
    assert bb.init_cfg == dict(type='Pretrained', checkpoint=cfg.pretrained, prefix='backbone.')
    assert arch in cfg.pretrained
    assert neck.in_channels == [192, 384, 384, 384] and neck.out_channels == 256
    assert neck.num_outs == 4
    assert head.channels == 128 and head.num_classes == 150 and head.dropout_ratio == 0.1
    assert head.in_index == [0, 1, 2, 3]
    assert cfg.crop_size == (512, 512)
    assert cfg.train_dataloader.batch_size * 8 == 32
    opt = cfg.optim_wrapper.optimizer
    assert opt.type == 'AdamW' and opt.lr == 2e-4 and opt.weight_decay == 1e-4
    (poly, ) = cfg.param_scheduler
    assert poly.type == 'PolyLR' and poly.power == 0.9 and poly.end == 40000
    assert poly.by_epoch is False
    assert cfg.train_cfg.type == 'IterBasedTrainLoop' and cfg.train_cfg.max_iters == 40000
    assert cfg.val_evaluator.iou_metrics == ['mIoU']


@pytest.mark.parametrize('arch', ARCHS)
def test_det_recipe(repo_root, arch):
    cfg = det_cfg(repo_root, arch)
    assert cfg.default_scope == 'mmdet'
    bb, neck, head = cfg.model.backbone, cfg.model.neck, cfg.model.bbox_head
    assert cfg.model.type == 'RetinaNet'
    assert bb.type == 'Sequencer2D' and bb.arch == arch
    assert bb.init_cfg == dict(type='Pretrained', checkpoint=cfg.pretrained, prefix='backbone.')
    # Stages 1..3 of the backbone (strides 14): the paper's in_channels=[192, 384, 384, 384]
    # with start_level=1, minus the stage-0 output that FPN would ignore.
    assert bb.out_indices == (1, 2, 3)
    assert neck.in_channels == [384, 384, 384] and neck.start_level == 0
    assert neck.add_extra_convs == 'on_input' and neck.num_outs == 5
    assert head.num_classes == 80
    assert cfg.train_dataloader.batch_size * 8 == 16
    opt = cfg.optim_wrapper.optimizer
    assert opt.type == 'AdamW' and opt.lr == 1e-4 and opt.weight_decay == 1e-4
    steps = [s for s in cfg.param_scheduler if s.type == 'MultiStepLR']
    assert cfg.train_cfg.max_epochs == 12 and steps[0].milestones == [8, 11]
    assert cfg.val_evaluator.type == 'CocoMetric' and cfg.val_evaluator.metric == 'bbox'


# ---------------------------------------------------------------- parameter counts

def test_param_counts_match_paper(repo_root):
    """Whole-model parameters (no forward) against Table 3 (integer M) and Table 11 (0.1M)."""
    measured = {}
    for arch in ARCHS:
        seg = num_params(init_model(seg_cfg(repo_root, arch)))
        det = num_params(init_model(det_cfg(repo_root, arch)))
        measured[arch] = (seg, det)
        assert round(seg / 1e6) == SEG_PARAMS_M[arch], (arch, seg)
        assert round(det / 1e6, 1) == pytest.approx(DET_PARAMS_M[arch]), (arch, det)
    print('params (seg, det):', measured)


# ---------------------------------------------------------------- geometry

def test_seg_geometry(repo_root):
    """At the config's 512 crop, every stride the head assumes is the measured one."""
    cfg = shallow(seg_cfg(repo_root))
    model = init_model(cfg)
    inputs = padded_seg_crop(model, cfg.crop_size)
    pad_h, pad_w = inputs.shape[2:]
    with torch.no_grad():
        feats = model.backbone(inputs)
        outs = model.neck(feats)
        logits = model.decode_head(outs)
    head = model.decode_head
    assert len(outs) == len(head.feature_strides) == 4
    measured = strides_of(outs, pad_h, pad_w)
    assert list(head.feature_strides) == measured == [7, 14, 14, 14]
    # Backbone maps have the same strides and the channels the neck expects.
    assert [pad_h // f.shape[2] for f in feats] == measured
    assert [f.shape[1] for f in feats] == list(cfg.model.neck.in_channels)
    # Each level is upsampled by exactly its stride ratio onto the first level's grid.
    assert head.upsample_ratios == [s // measured[0] for s in measured]
    for f, r in zip(outs, head.upsample_ratios):
        assert f.shape[2] * r == outs[0].shape[2] and f.shape[3] * r == outs[0].shape[3]
    assert logits.shape[2] * head.feature_strides[0] == pad_h
    assert logits.shape[1] == 150


def test_det_geometry(repo_root):
    """At the test pipeline's 1333x800 scale, anchor strides equal the measured strides,
    anchor centres sit on each level's grid, and anchor sizes grow level by level."""
    cfg = shallow(det_cfg(repo_root))
    model = init_model(cfg)
    init_default_scope('mmdet')
    from mmdet.structures import DetDataSample
    resize = [t for t in cfg.test_pipeline if t['type'] == 'Resize'][0]
    w, h = resize['scale']  # mmdet scales are (w, h): (1333, 800)
    sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                         scale_factor=(1., 1.)))
    data = model.data_preprocessor(
        dict(inputs=[torch.randint(0, 256, (3, h, w), dtype=torch.uint8)],
             data_samples=[sample]), training=False)
    inputs = data['inputs']
    pad_h, pad_w = inputs.shape[2:]
    divisor = cfg.model.data_preprocessor.pad_size_divisor
    assert pad_h % divisor == 0 and pad_w % divisor == 0 and (pad_h, pad_w) == (840, 1344)
    assert divisor % model.backbone.total_stride == 0
    with torch.no_grad():
        outs = model.neck(model.backbone(inputs))
    gen = model.bbox_head.prior_generator
    measured = strides_of(outs, pad_h, pad_w)
    assert measured == [14, 14, 14, 28, 56]
    assert [tuple(s) for s in gen.strides] == [(s, s) for s in measured]
    assert divisor % max(measured) == 0

    sizes = [f.shape[2:] for f in outs]
    priors = gen.grid_priors(sizes, device='cpu')
    prev_max = 0.
    for level, (anchors, (fh, fw), s) in enumerate(zip(priors, sizes, measured)):
        na = gen.num_base_priors[level]
        assert anchors.shape[0] == fh * fw * na
        centres = (anchors[:, :2] + anchors[:, 2:]) / 2
        # Base anchors are centred on (0, 0), shifted by stride x grid index: the centre of
        # cell (i, j) lies at (j*s, i*s) in padded-image pixels.
        grid = centres.view(fh, fw, na, 2)
        ys = torch.arange(fh, dtype=torch.float32) * s
        xs = torch.arange(fw, dtype=torch.float32) * s
        assert torch.allclose(grid[..., 0], xs.view(1, fw, 1).expand(fh, fw, na), atol=1e-3)
        assert torch.allclose(grid[..., 1], ys.view(fh, 1, 1).expand(fh, fw, na), atol=1e-3)
        # Square-root area of the anchors: RetinaNet's 32..512 px ladder, level by level.
        areas = ((anchors[:na, 2] - anchors[:na, 0]) * (anchors[:na, 3] - anchors[:na, 1]))
        side = areas.sqrt()
        assert side.min() == pytest.approx(32 * 2 ** level, rel=1e-3)
        assert side.min() > prev_max * 0.99
        prev_max = side.max().item()


def test_stock_fpn_head_rule_is_not_used(repo_root):
    """mmseg's FPNHead derives conv depth from log2 stride ratios; ours states both apart."""
    cfg = seg_cfg(repo_root)
    head = cfg.model.decode_head
    assert head.type == 'StridedFPNHead'
    assert head.feature_strides == [7, 14, 14, 14] and head.num_convs == [1, 1, 2, 3]


def test_strided_fpn_head_rejects_misaligned_strides(repo_root):
    init_default_scope('mmseg')
    from mmseq.models.decode_heads import StridedFPNHead
    kw = dict(in_channels=[8, 8], in_index=[0, 1], channels=4, num_classes=3)
    with pytest.raises(ValueError, match='multiple of the first'):
        StridedFPNHead(feature_strides=[7, 10], **kw)
    with pytest.raises(ValueError, match='smallest'):
        StridedFPNHead(feature_strides=[14, 7], **kw)
    with pytest.raises(ValueError, match='num_convs must be given'):
        StridedFPNHead(feature_strides=[4, 12], **kw)
    # mmseg's rule for power-of-two pyramids: 1, 1, 2, 3 convs.
    head = StridedFPNHead(feature_strides=[4, 8, 16, 32], in_channels=[8] * 4,
                          in_index=[0, 1, 2, 3], channels=4, num_classes=3)
    assert head.num_convs == [1, 1, 2, 3] and head.upsample_ratios == [1, 2, 4, 8]
    head = StridedFPNHead(feature_strides=[7, 14], **kw)
    assert head.num_convs == [1, 1]


# ---------------------------------------------------------------- odd sizes

def test_segmentor_odd_input_size(repo_root):
    cfg = shallow(seg_cfg(repo_root))
    cfg.model.decode_head.norm_cfg = dict(type='BN', requires_grad=True)
    model = init_model(cfg)
    h, w = 317, 251
    with torch.no_grad():
        (pred, ) = model.test_step(seg_batch(h, w, with_gt=False))
    assert tuple(pred.seg_logits.data.shape) == (150, h, w)
    assert tuple(pred.pred_sem_seg.data.shape) == (1, h, w)
    # Training at an odd size: labels padded on the logits' grid, a finite loss.
    model.train()
    data = model.data_preprocessor(seg_batch(h, w), training=True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert torch.isfinite(losses['decode.loss_ce'])


def test_detector_odd_input_size(repo_root):
    cfg = shallow(det_cfg(repo_root))
    # Untrained: keep every box so the bounds check is not vacuous.
    cfg.model.test_cfg.score_thr = 0.
    model = init_model(cfg)
    init_default_scope('mmdet')
    from mmdet.structures import DetDataSample
    h, w = 317, 251
    sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                         scale_factor=(1., 1.)))
    data = dict(inputs=[torch.randint(0, 256, (3, h, w), dtype=torch.uint8)],
                data_samples=[sample])
    with torch.no_grad():
        (pred, ) = model.test_step(data)
    boxes = pred.pred_instances.bboxes
    assert boxes.shape[0] > 0
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
    assert (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all()
    assert (boxes[:, 2] >= boxes[:, 0]).all() and (boxes[:, 3] >= boxes[:, 1]).all()
    # Training at the odd size gives finite losses.
    model.train()
    sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                         scale_factor=(1., 1.)))
    sample.gt_instances = InstanceData(bboxes=torch.tensor([[20., 30., 120., 200.]]),
                                       labels=torch.tensor([3]))
    data = model.data_preprocessor(
        dict(inputs=[torch.randint(0, 256, (3, h, w), dtype=torch.uint8)],
             data_samples=[sample]), training=True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert all(torch.isfinite(sum(v) if isinstance(v, list) else v) for v in losses.values())


# ---------------------------------------------------------------- pretrained backbone

@pytest.mark.parametrize('task', ['seg', 'det'])
def test_in1k_checkpoint_loads_into_backbone(repo_root, tmp_path, task):
    """The classifier checkpoint (keys 'backbone.*', plus a head) fills the dense model's
    backbone through init_cfg=Pretrained(prefix='backbone.')."""
    cls_cfg = shallow(Config.fromfile(f'{repo_root}/configs/seq2d_s_in1k.py'))
    classifier = init_model(cls_cfg)
    ckpt = tmp_path / 'seq2d_s_in1k.pth'
    torch.save({'state_dict': classifier.state_dict(), 'meta': {}}, ckpt)

    cfg = shallow(seg_cfg(repo_root) if task == 'seg' else det_cfg(repo_root))
    cfg.model.backbone.init_cfg.checkpoint = str(ckpt)
    init_default_scope(cfg.default_scope)
    from mmengine.registry import MODELS
    model = MODELS.build(cfg.model)
    model.init_weights()
    loaded = model.backbone.state_dict()
    source = {k[len('backbone.'):]: v for k, v in classifier.state_dict().items()
              if k.startswith('backbone.')}
    # The classifier only has norm3; the dense backbone's extra output norms stay initialised.
    shared = [k for k in loaded if k in source]
    assert len(shared) > 20 and set(source) <= set(loaded)
    for k in shared:
        assert torch.equal(loaded[k], source[k]), k


# ---------------------------------------------------------------- own-data templates, demo

@pytest.mark.parametrize('template,real', [
    ('sem_fpn_seq2d_s_custom', 'sem_fpn_seq2d_s_ade20k'),
    ('retinanet_seq2d_s_custom', 'retinanet_seq2d_s_coco'),
    ('mask_rcnn_seq2d_s_custom', 'mask_rcnn_seq2d_s_coco')])
def test_templates_keep_the_real_model_and_recipe(repo_root, template, real):
    """An own-data template is its real config with the user's classes: the same network
    (RetinaNet: with GroupNorm in the head and a pyramid for small objects), optimiser and schedule."""
    t = Config.fromfile(f'{repo_root}/configs/{template}.py')
    r = Config.fromfile(f'{repo_root}/configs/{real}.py')
    tm, rm = t.model.to_dict(), r.model.to_dict()
    if 'decode_head' in tm:
        assert tm['decode_head'].pop('num_classes') == len(t.classes) == 2
        rm['decode_head'].pop('num_classes')
    elif 'bbox_head' in tm:
        assert tm['bbox_head'].pop('num_classes') == len(t.classes)
        assert tm['bbox_head'].pop('norm_cfg')['type'] == 'GN'
        rm['bbox_head'].pop('num_classes')
        # the pyramid for small objects: stages 0 and 3, strides 7..112 (one octave a level)
        assert tm['backbone'].pop('out_indices') == (0, 3) != rm['backbone'].pop('out_indices')
        assert tm['neck'].pop('in_channels') == [192, 384]
        rm['neck'].pop('in_channels')
        anchors, paper = tm['bbox_head'].pop('anchor_generator'), rm['bbox_head'].pop(
            'anchor_generator')
        assert anchors.pop('strides') == [7, 14, 28, 56, 112] != paper.pop('strides')
        assert anchors.pop('base_sizes') == [8, 16, 32, 64, 128]
        paper.pop('base_sizes', None)
        assert anchors == paper
    else:
        for head in ('bbox_head', 'mask_head'):
            assert tm['roi_head'][head].pop('num_classes') == len(t.classes)
            rm['roi_head'][head].pop('num_classes')
    assert tm == rm
    assert t.optim_wrapper == r.optim_wrapper and t.param_scheduler == r.param_scheduler
    assert t.train_dataloader.dataset.metainfo.classes == t.classes
    assert t.test_dataloader == t.val_dataloader


@pytest.mark.parametrize('demo,template', [
    ('sem_fpn_seq2d_hela_cpu', 'sem_fpn_seq2d_s_custom'),
    ('retinanet_seq2d_hela_cpu', 'retinanet_seq2d_s_custom'),
    ('mask_rcnn_seq2d_hela_cpu', 'mask_rcnn_seq2d_s_custom')])
def test_demo_configs_fill_in_the_templates(repo_root, demo, template):
    """The demo configs are the templates with the HeLa data and a small backbone from
    scratch; the neck, head and optimiser type stay, and the data is checked on loading."""
    d = Config.fromfile(f'{repo_root}/configs/demo/{demo}.py')
    t = Config.fromfile(f'{repo_root}/configs/{template}.py')
    assert d.data_root.startswith('data/hela') and d.classes != t.classes
    assert d.model.backbone.init_cfg is None and d.model.backbone.arch.layers == [2, 2, 2, 2]
    assert d.model.neck.type == t.model.neck.type and d.model.neck.out_channels == 256
    head = next(h for h in ('decode_head', 'bbox_head', 'roi_head') if h in d.model)
    assert d.model[head].type == t.model[head].type
    assert d.optim_wrapper.optimizer.type == t.optim_wrapper.optimizer.type == 'AdamW'
    assert d.env_cfg.dist_cfg.backend == 'gloo'
    assert d.test_dataloader.dataset.data_root == d.data_root
    if head == 'decode_head':
        assert d.model.decode_head.num_classes == 2
        assert d.crop_size[0] % 14 == 0 and d.crop_size[1] % 14 == 0
        types = [step['type'] for step in d.train_dataloader.dataset.pipeline]
        assert 'mmseq.LoadSegLabels' in types
    else:
        assert d.train_dataloader.dataset.type == 'mmseq.CheckedCocoDataset'


DEMO_CONFIGS = sorted(
    osp.relpath(path, REPO) for path in glob.glob(f'{REPO}/configs/demo/**/*.py', recursive=True))


@pytest.mark.parametrize('config', DEMO_CONFIGS)
def test_demo_configs_build_and_their_pyramids_fit_their_heads(repo_root, config):
    """Every demo config (and each backbone that compare_backbones.py trains) builds, runs, and
    its detection heads look at the pyramid levels at the strides they are told."""
    model = init_model(f'{repo_root}/{config}', device='cpu')
    size = 224
    with torch.no_grad():
        feats = model.extract_feat(torch.rand(1, 3, size, size))
    assert all(torch.isfinite(f).all() for f in feats)
    head = model.cfg.model.get('bbox_head') or model.cfg.model.get('rpn_head')
    if head is None:  # a segmentor
        with torch.no_grad():
            logits = model._forward(torch.rand(1, 3, size, size))
        assert logits.shape[1] == model.cfg.model.decode_head.num_classes
        assert torch.isfinite(logits).all()
        return
    strides = head.anchor_generator.strides
    assert len(strides) == len(feats)
    assert [f.shape[-1] for f in feats] == [math.ceil(size / s) for s in strides]
    if 'roi_head' in model.cfg.model:
        for extractor in ('bbox_roi_extractor', 'mask_roi_extractor'):
            extractor = model.cfg.model.roi_head[extractor]
            n = len(extractor.featmap_strides)
            assert extractor.featmap_strides == strides[:n]
