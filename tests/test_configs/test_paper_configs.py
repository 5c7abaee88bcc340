"""The paper's transfer recipes (Table 6, third column; Table 7) for S/M/L on four datasets, and
its ablation grid (Tables 2, 10, 12a) as IN-1K configs: recipe values, data layouts, models that
build, and parameter counts / FLOPs against the paper's tables.

FLOPs (MACs, the paper's convention) come from tools/analysis/get_flops.py; a 224 px count of
an S-size model takes seconds, so by default only a representative subset is counted
(``MMSEQ_FULL_FLOPS=1`` counts all).
"""
import copy
import functools
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from helpers import REPO, load_tool
from helpers import TINY_ARCH as _ARCH

TINY_ARCH = dict(_ARCH, _delete_=True)
FULL_FLOPS = os.environ.get('MMSEQ_FULL_FLOPS', '') not in ('', '0')


@functools.lru_cache(maxsize=None)
def _load(name):
    # Each `mmpretrain::` base costs a parse of mmpretrain's model-index: load each file once.
    return Config.fromfile(osp.join(REPO, 'configs', f'{name}.py'))


def load(name):
    cfg = copy.deepcopy(_load(name))
    init_default_scope(cfg.default_scope)
    return cfg


def schedulers(cfg):
    return {s['type']: s for s in cfg.param_scheduler}


def build(model_cfg):
    from mmpretrain.registry import MODELS
    return MODELS.build(model_cfg)


def num_params(model):
    return sum(p.numel() for p in model.parameters())


# ================================================================= transfer (Tables 6 and 7)

# dataset -> (classes, epochs, train split, dataset type); Table 7 and Table 6's epochs.
DATASETS = {
    'cifar10': (10, 200, 'train', 'CIFAR10'),
    'cifar100': (100, 200, 'train', 'CIFAR100'),
    'flowers102': (102, 1000, 'trainval', 'Flowers102'),
    'stanfordcars': (196, 1000, 'train', 'StanfordCars'),
}
DROP_PATH = {'s': 0.1, 'm': 0.2, 'l': 0.4}
TRANSFER = [(arch, ds) for ds in DATASETS for arch in DROP_PATH]


@pytest.mark.parametrize('arch,dataset', TRANSFER)
def test_transfer_recipe(arch, dataset):
    classes, epochs, train_split, ds_type = DATASETS[dataset]
    cfg = load(f'seq2d_{arch}_in1k-pre_{dataset}')
    bb = cfg.model.backbone
    assert bb.type == 'Sequencer2D' and bb.arch == arch
    assert bb.drop_path_rate == DROP_PATH[arch]
    # The backbone starts from that size's IN-1K weights.
    assert cfg.pretrained == f'timm://sequencer2d_{arch}.in1k'
    assert bb.init_cfg == dict(type='Pretrained', checkpoint=cfg.pretrained, prefix='backbone.')
    assert cfg.model.head.num_classes == classes == cfg.data_preprocessor.num_classes
    assert cfg.model.head.in_channels == 384

    opt = cfg.optim_wrapper
    assert opt.optimizer.type == 'AdamW' and opt.optimizer.lr == 1e-4
    assert opt.optimizer.weight_decay == 1e-4 and opt.optimizer.eps == 1e-8
    assert tuple(opt.optimizer.betas) == (0.9, 0.999)
    assert opt.clip_grad == dict(max_norm=1.0)
    # lr 1e-4 refers to a total batch of 512 (8 GPUs x 64); auto_scale_lr rescales otherwise.
    assert cfg.auto_scale_lr == dict(base_batch_size=512, enable=True)
    assert cfg.train_dataloader.batch_size * 8 == 512

    assert [s['type'] for s in cfg.param_scheduler] == ['LinearLR', 'CosineAnnealingLR']
    warm, cos = schedulers(cfg)['LinearLR'], schedulers(cfg)['CosineAnnealingLR']
    assert warm.start_factor * opt.optimizer.lr == pytest.approx(1e-6)  # warm-up from 1e-6
    assert (warm.begin, warm.end) == (0, 5) and warm.by_epoch
    assert (cos.begin, cos.end) == (5, epochs - 10) and cos.eta_min == 1e-6  # 10 cool-down
    assert warm.convert_to_iter_based and cos.convert_to_iter_based
    assert cfg.train_cfg.max_epochs == epochs

    train = cfg.train_dataloader.dataset
    test = cfg.test_dataloader.dataset
    assert train.type == test.type == ds_type
    assert train.split == train_split and test.split == 'test'
    steps = {t['type']: t for t in train.pipeline}
    assert 'RandomErasing' not in steps
    assert steps['RandomResizedCrop']['scale'] == 224
    ra = steps['RandAugment']
    assert (ra['magnitude_level'], ra['magnitude_std']) == (9, 0.5)  # rand-m9-mstd0.5
    assert ra['num_policies'] == 2 and ra['total_level'] == 10
    assert ra['policies'] == 'timm_increasing'
    tsteps = {t['type']: t for t in test.pipeline}
    assert tsteps['CenterCrop']['crop_size'] == 224
    assert 224 / tsteps['ResizeEdge']['scale'] == 0.875  # crop ratio

    assert cfg.model.head.loss == dict(type='LabelSmoothLoss', label_smooth_val=0.1,
                                       mode='original')
    assert cfg.model.train_cfg.augments == [dict(type='Mixup', alpha=0.8),
                                            dict(type='CutMix', alpha=1.0)]


@pytest.mark.parametrize('arch', ['m', 'l'])
@pytest.mark.parametrize('dataset', list(DATASETS))
def test_transfer_children_differ_only_in_size(arch, dataset):
    """M / L are the S recipe with their own arch, drop path and checkpoint."""
    s = load(f'seq2d_s_in1k-pre_{dataset}').to_dict()
    child = load(f'seq2d_{arch}_in1k-pre_{dataset}').to_dict()
    for cfg in (s, child):
        cfg.pop('pretrained')
        cfg['model']['backbone'].pop('arch')
        cfg['model']['backbone'].pop('drop_path_rate')
        cfg['model']['backbone']['init_cfg'].pop('checkpoint')
    assert child == s


def fake_flowers(root):
    import cv2
    import mat4py
    os.makedirs(osp.join(root, 'jpg'))
    for i in range(1, 7):
        cv2.imwrite(osp.join(root, 'jpg', f'image_{i:05d}.jpg'),
                    np.random.randint(0, 255, (60, 80, 3), np.uint8))
    mat4py.savemat(osp.join(root, 'imagelabels.mat'), {'labels': [1, 2, 102, 5, 3, 4]})
    mat4py.savemat(osp.join(root, 'setid.mat'), {'trnid': [1, 2], 'valid': [3, 4],
                                                 'tstid': [5, 6]})
    return dict(trainval=[0, 1, 101, 4], test=[2, 3])


def fake_cars(root):
    import cv2
    import mat4py
    os.makedirs(osp.join(root, 'car_ims'))
    names = [f'car_ims/{i:06d}.jpg' for i in range(1, 5)]
    for name in names:
        cv2.imwrite(osp.join(root, name), np.random.randint(0, 255, (50, 90, 3), np.uint8))
    mat4py.savemat(osp.join(root, 'cars_annos.mat'), {'annotations': {
        'relative_im_path': names, 'class': [1, 196, 7, 9], 'test': [0, 0, 1, 1]}})
    return dict(train=[0, 195], test=[6, 8])


@pytest.mark.parametrize('dataset,make', [('flowers102', fake_flowers),
                                          ('stanfordcars', fake_cars)])
def test_image_datasets_read_mmpretrain_layout(tmp_path, dataset, make):
    """The configs' datasets and pipelines, on a miniature of the layout mmpretrain expects."""
    from mmpretrain.registry import DATASETS as REGISTRY
    cfg = load(f'seq2d_s_in1k-pre_{dataset}')
    labels = make(str(tmp_path))
    for loader in (cfg.train_dataloader, cfg.test_dataloader):
        ds_cfg = copy.deepcopy(loader.dataset)
        ds_cfg.data_root = str(tmp_path)
        ds = REGISTRY.build(ds_cfg)
        assert [ds.get_data_info(i)['gt_label'] for i in range(len(ds))] == \
            labels[ds_cfg.split]
        sample = ds[0]
        assert sample['inputs'].shape == (3, 224, 224)
    assert max(max(v) for v in labels.values()) < cfg.model.head.num_classes


@pytest.mark.parametrize('dataset', ['cifar10', 'cifar100'])
def test_cifar_pipelines_upsample_to_224(dataset):
    cfg = load(f'seq2d_s_in1k-pre_{dataset}')
    for loader in (cfg.train_dataloader, cfg.test_dataloader):
        img = np.random.randint(0, 255, (32, 32, 3), dtype=np.uint8)
        out = Compose(loader.dataset.pipeline)(dict(img=img, img_shape=(32, 32),
                                                    ori_shape=(32, 32), gt_label=1))
        assert out['inputs'].shape == (3, 224, 224)
    assert cfg.data_preprocessor.to_rgb is False  # CIFAR arrays are RGB already


@pytest.mark.parametrize('arch,dataset', TRANSFER)
def test_transfer_model_builds_with_its_classes(arch, dataset):
    classes = DATASETS[dataset][0]
    cfg = load(f'seq2d_{arch}_in1k-pre_{dataset}')
    # The --cfg-options a quick run would use: tiny arch, no checkpoint.
    cfg.merge_from_dict({'model.backbone.arch': copy.deepcopy(TINY_ARCH),
                         'model.backbone.init_cfg': None, 'model.head.in_channels': 32})
    model = build(cfg.model).eval()
    with torch.no_grad():
        logits = model(torch.rand(2, 3, 28, 28), mode='tensor')
    assert logits.shape == (2, classes)


def test_real_transfer_model_shapes():
    """The real S (and L) classifier: a 384-wide head with the dataset's classes (not run)."""
    for arch, dataset in [('s', 'stanfordcars'), ('l', 'flowers102')]:
        cfg = load(f'seq2d_{arch}_in1k-pre_{dataset}')
        cfg.model.backbone.init_cfg = None
        model = build(cfg.model)
        classes = DATASETS[dataset][0]
        assert model.backbone.embed_dims[-1] == 384
        assert tuple(model.head.fc.weight.shape) == (classes, 384)
        assert len(model.backbone.stages[2].blocks) == {'s': 8, 'l': 16}[arch]


# ================================================================= ablations (Tables 2, 10, 12a)

S = dict(type='Sequencer2D', arch='s')
VS = dict(type='VanillaSequencer')
L13 = dict(layers=[8, 8, 16, 4], patch_sizes=[7, 2, 1, 1], embed_dims=[256, 512, 512, 512],
           hidden_sizes=[64, 128, 128, 128], mlp_ratios=[3.0] * 4)
# config -> (table, backbone settings, exact parameters with the 1000-class head, MACs at 224
# in G to two decimals from get_flops, paper #Params in M, paper FLOPs in G). None: the paper
# prints no value (Tables 2a and 2b give accuracy only).
ABLATIONS = {
    'seq2d_s_union-vertical_in1k': (
        '2a C1', dict(S, union='vertical', with_fc=False, hidden_ratio=2),
        27_645_544, 8.37, None, None),
    'seq2d_s_union-horizontal_in1k': (
        '2a C2', dict(S, union='horizontal', with_fc=False, hidden_ratio=2),
        27_645_544, 8.37, None, None),
    'seq2d_s_no-fc_in1k': (
        '2a C1+C2', dict(S, union='cat', with_fc=False), 25_433_704, 7.69, None, None),
    'seq2d_s_unidirectional_in1k': (
        '2b', dict(S, bidirectional=False, hidden_ratio=2), 29_863_528, 9.05, None, None),
    'vsequencer_s_in1k': ('2c VSequencer-S', dict(VS, arch='s'), 33_016_552, 8.36, 33, 8.4),
    'vsequencer_s-h_in1k': ('2c VSequencer(H)-S', dict(VS, arch='s-h'), 27_645_544, 8.37,
                            28, 8.4),
    'vsequencer_s-pe_in1k': ('2c VSequencer(PE)-S', dict(VS, arch='s-pe'), 33_114_856, 8.36,
                             33, 8.4),
    'seq2d_s_hidden-x2_in1k': ('2d', dict(S, hidden_ratio=2), 45_395_560, 13.85, 45, 13.9),
    'seq2d_s_gru_in1k': ('2e GRU', dict(S, rnn_type='gru'), 24_874_600, 7.51, 25, 7.5),
    'seq2d_s_rnn_in1k': ('2e RNN', dict(S, rnn_type='rnn'), 19_320_424, 5.79, 19, 5.8),
    'seq2d_s_union-add_in1k': ('12a add', dict(S, union='add'), 26_545_768, 8.03, 27, 8.0),
    'seq2d_l-x1.3_in1k': ('10 Lx1.3', dict(type='Sequencer2D', arch=L13), 96_252_392,
                          29.40, 96, 29.4),
}
# Where our count, rounded as the paper prints it, is not the paper's value, and why.
FLOPS_DEVIATIONS = {
    # 13.8477G, which rounds to 13.8G, not the paper's 13.9G. It is 0.0023G below the
    # rounding boundary: probably ops the paper's counter includes and ours leaves out (the
    # LayerNorms alone see 4.4M elements, 0.0044G at one op each); the same ops do not move
    # any other row of the table across a boundary.
    'seq2d_s_hidden-x2_in1k',
}
# Counted at 224 in the default run: one per code path not covered by
# tests/test_tools/test_benchmark_flops.py (which counts S, 2x hidden, GRU and RNN by arch):
# the added union, the Vanilla Sequencer's BiLSTM over the raster sequence (with the
# positional embedding), and the widened L of Table 10.
FLOPS_SUBSET = {'seq2d_s_union-add_in1k', 'vsequencer_s-pe_in1k', 'seq2d_l-x1.3_in1k'}


@pytest.mark.parametrize('name', list(ABLATIONS))
def test_ablation_config(name):
    _, settings, *_ = ABLATIONS[name]
    cfg = load(f'ablations/{name}')
    bb = cfg.model.backbone
    for key, value in settings.items():
        assert bb[key] == value, (key, bb[key])
    # Everything else is the recipe of the base size (S, or L for Lx1.3): Table 6, first column.
    base = load('seq2d_l_in1k' if name.startswith('seq2d_l') else 'seq2d_s_in1k')
    child = cfg.to_dict()
    parent = base.to_dict()
    for d in (child, parent):
        d['model'].pop('backbone')
        d['model']['head'].pop('in_channels')
    assert child == parent
    assert cfg.model.head.in_channels == (512 if 'x1.3' in name else 384)
    assert {k: v for k, v in bb.items() if k not in settings} == \
        {k: v for k, v in base.model.backbone.items() if k not in settings}


def _check_vertical(bb):
    mixer = bb.stages[1].blocks[0].token_mixer
    assert mixer.rnn_h is None and mixer.fc is None
    assert mixer.rnn_v.hidden_size == 192 and mixer.rnn_v.bidirectional  # 2 x C / 4


def _check_horizontal(bb):
    mixer = bb.stages[1].blocks[0].token_mixer
    assert mixer.rnn_v is None and mixer.fc is None and mixer.rnn_h.hidden_size == 192


def _check_no_fc(bb):
    mixer = bb.stages[1].blocks[0].token_mixer
    assert mixer.fc is None and mixer.rnn_v.hidden_size == mixer.rnn_h.hidden_size == 96


def _check_unidirectional(bb):
    mixer = bb.stages[1].blocks[0].token_mixer
    assert not mixer.rnn_v.bidirectional and not mixer.rnn_h.bidirectional
    assert mixer.rnn_v.hidden_size == 192 and mixer.fc.in_features == 384


def _check_vanilla(hierarchical, pos_embed):
    def check(bb):
        from mmseq.models.layers.bilstm1d import BiLSTM1D
        mixer = bb.stages[0].blocks[0].token_mixer
        assert isinstance(mixer, BiLSTM1D) and mixer.fc is None
        assert mixer.rnn.hidden_size == (96 if hierarchical else 192)
        assert bb.stem.kernel_size == ((7, 7) if hierarchical else (14, 14))
        assert (bb.pos_embed is not None) == pos_embed
    return check


def _check_hidden_x2(bb):
    assert bb.stages[1].blocks[0].token_mixer.rnn_v.hidden_size == 192


def _check_rnn(cls):
    def check(bb):
        mixer = bb.stages[1].blocks[0].token_mixer
        assert type(mixer.rnn_v) is cls and type(mixer.rnn_h) is cls
    return check


def _check_add(bb):
    mixer = bb.stages[1].blocks[0].token_mixer
    assert mixer.rnn_v.hidden_size == 96 and mixer.fc.in_features == 192


def _check_wide_l(bb):
    assert bb.embed_dims == [256, 512, 512, 512]
    assert [len(s.blocks) for s in bb.stages] == [8, 8, 16, 4]  # L's depth
    assert bb.stages[1].blocks[0].token_mixer.rnn_v.hidden_size == 128  # C / 4
    assert bb.stages[1].blocks[0].mlp.fc1.out_features == 3 * 512


STRUCTURE = {
    'seq2d_s_union-vertical_in1k': _check_vertical,
    'seq2d_s_union-horizontal_in1k': _check_horizontal,
    'seq2d_s_no-fc_in1k': _check_no_fc,
    'seq2d_s_unidirectional_in1k': _check_unidirectional,
    'vsequencer_s_in1k': _check_vanilla(False, False),
    'vsequencer_s-h_in1k': _check_vanilla(True, False),
    'vsequencer_s-pe_in1k': _check_vanilla(False, True),
    'seq2d_s_hidden-x2_in1k': _check_hidden_x2,
    'seq2d_s_gru_in1k': _check_rnn(torch.nn.GRU),
    'seq2d_s_rnn_in1k': _check_rnn(torch.nn.RNN),
    'seq2d_s_union-add_in1k': _check_add,
    'seq2d_l-x1.3_in1k': _check_wide_l,
}


@pytest.mark.parametrize('name', list(ABLATIONS))
def test_ablation_model_and_parameters(name):
    """Built from its config (the classifier, 1000 classes): the paper's structure, and the
    parameter count exactly, rounded to the paper's 1M where the paper prints one."""
    table, _, params, _, paper_m, _ = ABLATIONS[name]
    cfg = load(f'ablations/{name}')
    cfg.model.backbone.init_cfg = None
    model = build(cfg.model)
    STRUCTURE[name](model.backbone)
    assert num_params(model) == params, (table, num_params(model))
    if paper_m is not None:
        assert round(params / 1e6) == paper_m, (table, params)


@pytest.mark.parametrize('name', list(ABLATIONS))
def test_ablation_flops(name):
    if name not in FLOPS_SUBSET and not FULL_FLOPS:
        pytest.skip('S-size 224 px count; MMSEQ_FULL_FLOPS=1 counts all')
    table, _, _, ours, _, paper_g = ABLATIONS[name]
    get_flops = load_tool('tools/analysis/get_flops.py')
    cfg = load(f'ablations/{name}')
    cfg.model.backbone.init_cfg = None
    backbone = build(cfg.model.backbone)
    result = get_flops.analyse(backbone, (224, 224), num_classes=1000)
    macs = result['macs'] / 1e9
    assert round(macs, 2) == ours, (table, macs)
    if paper_g is not None:
        assert (round(macs, 1) == paper_g) == (name not in FLOPS_DEVIATIONS), (table, macs)
