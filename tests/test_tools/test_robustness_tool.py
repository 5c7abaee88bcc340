"""tools/analysis/robustness.py (Tables 8, 9): generated data in the releases' layouts, a tiny
1000-way Sequencer2D, and every number checked against an evaluation written here (own
pipeline, own normalisation, own attacks, AlexNet's per-severity errors looked up by name).

The labels of the generated images are chosen from the model's own predictions (a random
1000-way model is otherwise wrong on everything), so each benchmark has a known mix of right
and wrong images.
"""
import json
import os
import os.path as osp
import shutil
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope
from PIL import Image

from helpers import config_file, load_tool, run
from mmseq.analysis import build_model
from mmseq.analysis import robustness as rb
from mmseq.utils import load_config

CONFIG = config_file('tiny_seq2d_in1k.py')  # test pipeline: ResizeEdge 64 -> CenterCrop 56
OPTIONS = ['model.head.num_classes=1000', 'data_preprocessor.num_classes=1000']
TOOL = 'tools/analysis/robustness.py'
MEAN = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)  # RGB, the config's
STD = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)

# AlexNet's top-1 errors on ImageNet-C per severity 1..5 (Hendrycks & Dietterich's
# spreadsheet, as public evaluation code lists them), by corruption name: an independent
# form of the tool's per-corruption averages.
ALEXNET_BY_SEVERITY = {
    'gaussian_noise': (0.69528, 0.82542, 0.93554, 0.98138, 0.99452),
    'shot_noise': (0.71224, 0.85108, 0.93574, 0.98182, 0.99146),
    'impulse_noise': (0.78374, 0.89808, 0.9487, 0.9872, 0.99548),
    'defocus_blur': (0.65624, 0.73202, 0.85036, 0.91364, 0.94714),
    'glass_blur': (0.64308, 0.75054, 0.88806, 0.91622, 0.93344),
    'motion_blur': (0.5843, 0.70048, 0.82108, 0.8975, 0.92638),
    'zoom_blur': (0.70008, 0.76992, 0.80784, 0.84198, 0.87198),
    'snow': (0.71726, 0.88392, 0.86468, 0.9187, 0.94952),
    'frost': (0.6139, 0.79734, 0.8879, 0.89942, 0.9343),
    'fog': (0.67474, 0.7605, 0.84378, 0.8726, 0.945),
    'brightness': (0.4514, 0.48502, 0.54048, 0.62166, 0.7244),
    'contrast': (0.64548, 0.7615, 0.88874, 0.9776, 0.9927),
    'elastic_transform': (0.52596, 0.70116, 0.55686, 0.64076, 0.80554),
    'pixelate': (0.52218, 0.5462, 0.73728, 0.87092, 0.91262),
    'jpeg_compression': (0.51002, 0.54718, 0.57294, 0.65458, 0.74778),
}


# ----------------------------------------------------------------------------- by hand
def load_by_hand(paths):
    """The tiny config's test pipeline written out: BGR uint8 -> float (B, 3, 56, 56)."""
    init_default_scope('mmpretrain')
    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(type='ResizeEdge', scale=64, edge='short', backend='pillow',
             interpolation='bicubic'),
        dict(type='CenterCrop', crop_size=56),
        dict(type='PackInputs')])
    return torch.stack([pipeline(dict(img_path=p))['inputs'] for p in paths]).float()


def logits_by_hand(model, x):
    """BGR 0-255 batch -> RGB, (x - mean) / std -> backbone, neck, head."""
    return model((x.flip(1) - MEAN) / STD, mode='tensor')


def attack_by_hand(model, x, y, eps, step, steps):
    adv = x.clone()
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = F.cross_entropy(logits_by_hand(model, adv), y)
        grad, = torch.autograd.grad(loss, adv)
        adv = adv.detach() + step * grad.sign()
        adv = torch.min(torch.max(adv, x - eps), x + eps).clamp(0, 255)
    return adv


def write_images(folder, n, seed):
    """n JPEGs (48x64): noise with a few coloured blocks."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        img = rng.normal(rng.uniform(60, 190), 40, size=(48, 64, 3))
        for _ in range(3):
            y, x = rng.integers(0, 36), rng.integers(0, 48)
            img[y:y + 12, x:x + 16] = rng.uniform(0, 255, size=3)
        path = osp.join(folder, f'img_{i:03d}.JPEG')
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, quality=95)
        paths.append(path)
    return paths


def place(src, folder, name=None):
    os.makedirs(folder, exist_ok=True)
    dst = osp.join(folder, name or osp.basename(src))
    shutil.copyfile(src, dst)
    return dst


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """A tiny 1000-way classifier checkpoint and a pool of images with its logits."""
    tmp = tmp_path_factory.mktemp('robustness')
    torch.manual_seed(0)
    cfg = load_config(CONFIG, {k: int(v) for k, v in (o.split('=') for o in OPTIONS)})
    model = build_model(cfg)
    with torch.no_grad():  # spread the logits: no near-ties between the classes
        model.head.fc.weight.normal_(0, 0.5)
    ckpt = str(tmp / 'tiny1000.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    model = build_model(cfg, ckpt)
    pool = write_images(str(tmp / 'pool'), 16, seed=1)
    with torch.no_grad():
        logits = logits_by_hand(model, load_by_hand(pool))
    return dict(tmp=tmp, ckpt=ckpt, model=model, pool=pool, logits=logits,
                wnids=rb.imagenet_wnids())


def run_in_process(setup, capsys, *args, ckpt=None):
    """The tool's main() here (a subprocess pays seconds of imports); its JSON, its output."""
    tool = load_tool(TOOL)
    out = setup['tmp'] / 'out'
    tool.main([CONFIG, ckpt or setup['ckpt'], *args, '--out-dir', str(out), '--batch-size', '64',
               '--num-workers', '0', '--device', 'cpu', '--cfg-options', *OPTIONS])
    printed = capsys.readouterr().out
    bench = args[args.index('--benchmark') + 1]
    return json.loads((out / f'robustness_{bench}.json').read_text()), printed


# ----------------------------------------------------------------------------- constants
def test_wnids_and_alexnet_constants():
    wnids = rb.imagenet_wnids()
    assert len(wnids) == 1000 and len(set(wnids)) == 1000 and list(wnids) == sorted(wnids)
    assert wnids[:2] == ('n01440764', 'n01443537') and wnids[-1] == 'n15075141'
    from timm.data import ImageNetInfo  # an independent copy of the list
    assert list(wnids) == list(ImageNetInfo('imagenet-1k').label_names())
    assert rb.CORRUPTIONS == tuple(ALEXNET_BY_SEVERITY)  # Table 9's order
    for c, errs in ALEXNET_BY_SEVERITY.items():
        assert rb.ALEXNET_ERRORS[c] == pytest.approx(sum(errs) / 5, abs=1e-6)


def test_needs_a_1000_way_head(tmp_path):
    cfg = load_config(CONFIG)  # 10 classes
    ckpt = tmp_path / 'ten.pth'
    torch.save({'state_dict': build_model(cfg).state_dict()}, ckpt)
    root = tmp_path / 'sketch'
    write_images(str(root / 'n01440764'), 1, seed=0)
    with pytest.raises(ValueError, match='1000-way head.*has 10 classes'):
        load_tool(TOOL).main([CONFIG, str(ckpt), '--benchmark', 'imagenet-sketch',
                              '--data-root', str(root), '--out-dir', str(tmp_path / 'o'),
                              '--num-workers', '0', '--device', 'cpu'])


# ----------------------------------------------------------------------------- 200 classes
@pytest.mark.parametrize('bench,first', [('imagenet-a', 0), ('imagenet-r', 2)])
def test_200_class_benchmarks(setup, capsys, bench, first):
    root = setup['tmp'] / bench
    classes = list(range(first, 1000, 5))  # the release's 200 class folders
    for c in classes:
        os.makedirs(root / setup['wnids'][c], exist_ok=True)
    logits = setup['logits'][:6]
    restricted = torch.tensor(classes)[logits[:, classes].argmax(1)]
    full = logits.argmax(1)
    labels = []
    for i, src in enumerate(setup['pool'][:6]):
        # 0-2: right within the 200 classes; 3-5: another of the 200
        label = int(restricted[i]) if i < 3 else classes[(classes.index(restricted[i]) + 7) %
                                                         200]
        labels.append(label)
        place(src, root / setup['wnids'][label])
    report, printed = run_in_process(setup, capsys, '--benchmark', bench,
                                     '--data-root', str(root))
    labels = torch.tensor(labels)
    top5 = torch.tensor(classes)[logits[:, classes].topk(5, 1).indices]
    assert report['top1'] == pytest.approx(50.0)
    assert report['top5'] == pytest.approx(100.0 * (top5 == labels[:, None]).any(1).float()
                                           .mean().item())
    assert report['num_images'] == 6 and report['num_classes'] == 200
    assert report['class_indices'] == classes
    # the restriction matters: unrestricted argmax differs on some image and scores less
    assert (full != restricted).any()
    assert 100.0 * (full == labels).float().mean().item() < report['top1']
    assert f'{bench}: top1 = 50.00' in printed


# ----------------------------------------------------------------------------- 1000 classes
@pytest.mark.parametrize('bench', ['imagenet-sketch', 'imagenet-v2'])
def test_1000_class_benchmarks(setup, capsys, bench):
    root = setup['tmp'] / bench
    logits = setup['logits'][6:12]
    pred = logits.argmax(1)
    right = 3 if bench == 'imagenet-sketch' else 4
    labels = [int(p) if i < right else (int(p) + 1) % 1000 for i, p in enumerate(pred)]
    for src, label in zip(setup['pool'][6:12], labels):
        # IN-V2 ("matched-frequency") names its folders by class index, IN-Sketch by wnid
        place(src, root / (str(label) if bench == 'imagenet-v2' else setup['wnids'][label]))
    report, printed = run_in_process(setup, capsys, '--benchmark', bench,
                                     '--data-root', str(root))
    top5 = logits.topk(5, 1).indices
    assert report['top1'] == pytest.approx(100.0 * right / 6)
    assert report['top5'] == pytest.approx(
        100.0 * (top5 == torch.tensor(labels)[:, None]).any(1).float().mean().item())
    assert report['restricted_to_classes'] is False and report['num_images'] == 6
    assert f'{bench}: top1 = {100.0 * right / 6:.2f}' in printed


def test_imagenet_real(setup, capsys):
    root = setup['tmp'] / 'real'
    pred = setup['logits'][:6].argmax(1).tolist()
    real = [[] for _ in range(50000)]
    real[0] = [pred[0]]                      # right
    real[1] = [(pred[1] + 3) % 1000, pred[1]]  # right: one of two labels
    real[2] = []                             # no label: skipped
    real[3] = [(pred[3] + 1) % 1000]         # wrong
    real[4] = [(pred[4] + 1) % 1000, (pred[4] + 2) % 1000]  # wrong
    real[5] = [pred[5]]                      # right
    (root / 'val').mkdir(parents=True)
    (root / 'real.json').write_text(json.dumps(real))
    for i, src in enumerate(setup['pool'][:6]):  # class folders (the wnid is not used)
        place(src, root / 'val' / setup['wnids'][i], f'ILSVRC2012_val_{i + 1:08d}.JPEG')
    report, printed = run_in_process(setup, capsys, '--benchmark', 'imagenet-real',
                                     '--data-root', str(root))
    assert report['top1'] == pytest.approx(60.0)
    assert report['num_images'] == 5 and report['num_skipped_unlabelled'] == 1
    assert 'imagenet-real: top1 = 60.00' in printed
    # the flat val layout reads the same images, indices from the file names
    flat = setup['tmp'] / 'real_flat'
    (flat / 'val').mkdir(parents=True)
    shutil.copyfile(root / 'real.json', flat / 'real.json')
    for path in sorted((root / 'val').rglob('*.JPEG'), reverse=True):
        place(str(path), flat / 'val')
    paths, labels, skipped = rb.read_imagenet_real(str(flat))
    assert [osp.basename(p) for p in paths] == [f'ILSVRC2012_val_{i:08d}.JPEG'
                                                for i in (1, 2, 4, 5, 6)]
    assert labels == [real[i - 1] for i in (1, 2, 4, 5, 6)] and skipped == 1


# ----------------------------------------------------------------------------- ImageNet-C
def make_imagenet_c(setup, root, corruptions):
    """2 images per corruption c_i and severity s, (i + s) % 3 of them labelled with the
    model's prediction (so errors of 0, 50 or 100 %); returns the errors by construction."""
    pred = setup['logits'].argmax(1).tolist()
    expected = {}
    for i, c in enumerate(corruptions):
        for s in range(1, 6):
            right = (i + s) % 3
            for k in range(2):
                j = (2 * (5 * i + s) + k) % len(setup['pool'])
                label = pred[j] if k < right else (pred[j] + 11) % 1000
                place(setup['pool'][j], root / c / str(s) / setup['wnids'][label])
            expected[(c, s)] = 100.0 * (2 - right) / 2
    return expected


def ce_by_hand(expected, corruptions):
    ce = {c: 100.0 * sum(expected[(c, s)] for s in range(1, 6)) /
          sum(100.0 * e for e in ALEXNET_BY_SEVERITY[c]) for c in corruptions}
    return ce, sum(ce.values()) / len(ce)


def test_imagenet_c(setup):
    root = setup['tmp'] / 'imagenet-c'
    corruptions = list(ALEXNET_BY_SEVERITY)
    expected = make_imagenet_c(setup, root, corruptions)
    ce, mce = ce_by_hand(expected, corruptions)
    out = setup['tmp'] / 'out_c'
    printed = run([sys.executable, TOOL, CONFIG, setup['ckpt'], '--benchmark', 'imagenet-c',
                   '--data-root', str(root), '--out-dir', str(out), '--batch-size', '64',
                   '--num-workers', '0', '--cfg-options', *OPTIONS])
    report = json.loads((out / 'robustness_imagenet-c.json').read_text())
    assert report['complete'] is True and report['metric'] == 'mCE'
    assert list(report['corruptions']) == corruptions
    for c in corruptions:
        got = report['corruptions'][c]
        assert got['errors'] == pytest.approx([expected[(c, s)] for s in range(1, 6)])
        assert got['ce'] == pytest.approx(ce[c], rel=1e-6)
    assert report['mce'] == pytest.approx(mce, rel=1e-6) and report['value'] == report['mce']
    assert f'imagenet-c: mCE = {mce:.2f}' in printed


def test_imagenet_c_needs_all_15_or_a_named_subset(setup, capsys):
    root = setup['tmp'] / 'imagenet-c-part'
    some = ['gaussian_noise', 'fog', 'pixelate']
    expected = make_imagenet_c(setup, root, some)
    shutil.rmtree(root / 'fog' / '4')
    with pytest.raises(FileNotFoundError) as err:
        run_in_process(setup, capsys, '--benchmark', 'imagenet-c', '--data-root', str(root))
    message = str(err.value)
    assert 'shot_noise' in message and 'jpeg_compression' in message and 'fog/4' in message
    assert 'gaussian_noise,' not in message
    (root / 'fog' / '4').mkdir()  # back, with fog's severity-4 images in it
    make_imagenet_c(setup, root, some)
    report, printed = run_in_process(setup, capsys, '--benchmark', 'imagenet-c', '--data-root',
                                     str(root), '--corruptions', *some)
    ce, mce = ce_by_hand(expected, some)
    assert report['complete'] is False and list(report['corruptions']) == some
    assert report['mce'] == pytest.approx(mce, rel=1e-6)
    assert 'mCE over 3 of the 15 corruptions' in printed

    # --resume after a crash: the partial JSON (as written after each severity) keeps what
    # it has (a marker value here, to tell kept from re-measured) and only the rest runs
    out_file = setup['tmp'] / 'out' / 'robustness_imagenet-c.json'
    partial = {k: report[k] for k in ('config', 'checkpoint', 'cfg_options', 'max_images')}
    errors = {c: report['corruptions'][c]['errors'] for c in some}
    errors['gaussian_noise'][0] = 12.5
    errors['fog'][1] = None
    out_file.write_text(json.dumps(dict(partial, complete=False, errors=errors)))
    report, printed = run_in_process(setup, capsys, '--benchmark', 'imagenet-c', '--data-root',
                                     str(root), '--corruptions', *some, '--resume')
    assert report['corruptions']['gaussian_noise']['errors'][0] == 12.5
    assert report['corruptions']['fog']['errors'] == pytest.approx(
        [expected[('fog', s)] for s in range(1, 6)])


def test_layout_errors(tmp_path):
    write_images(str(tmp_path / 'imagenet-a' / 'n01440764'), 1, seed=0)
    with pytest.raises(ValueError, match=r'WordNet id.*pass that folder'):
        rb.read_class_folders(str(tmp_path), 'imagenet-a')  # one level too high
    os.makedirs(tmp_path / 'imagenet-a' / 'cats')
    with pytest.raises(ValueError, match='not classes: cats'):
        rb.read_class_folders(str(tmp_path / 'imagenet-a'), 'imagenet-a')
    write_images(str(tmp_path / 'v2' / '0'), 1, seed=0)
    write_images(str(tmp_path / 'v2' / 'n01443537'), 1, seed=0)
    with pytest.raises(ValueError, match='mixes'):
        rb.read_class_folders(str(tmp_path / 'v2'), 'imagenet-v2')
    with pytest.raises(FileNotFoundError, match='real.json'):
        rb.read_imagenet_real(str(tmp_path))


# ----------------------------------------------------------------------------- attacks
N_ATTACKED = 8


@pytest.fixture(scope='module')
def attacked(setup):
    """The classifier with a head bias of +100 on two classes, so that the clean prediction
    is one of the two and the margins between them vary (without it a 1-pixel perturbation
    flips every prediction of a random model), and mmpretrain's val layout (flat +
    meta/val.txt) labelled with the clean predictions."""
    cfg = load_config(CONFIG, {k: int(v) for k, v in (o.split('=') for o in OPTIONS)})
    model = build_model(cfg, setup['ckpt'])
    with torch.no_grad():
        model.head.fc.bias.zero_()
        model.head.fc.bias[[10, 500]] = 100.0
        pred = logits_by_hand(model, load_by_hand(setup['pool'][:N_ATTACKED])).argmax(1)
    ckpt = str(setup['tmp'] / 'biased.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    root = setup['tmp'] / 'val_root'
    lines = []
    for i, src in enumerate(setup['pool'][:N_ATTACKED]):
        name = f'ILSVRC2012_val_{i + 1:08d}.JPEG'
        place(src, root / 'val', name)
        lines.append(f'{name} {int(pred[i])}')
    (root / 'meta').mkdir()
    (root / 'meta' / 'val.txt').write_text('\n'.join(lines) + '\n')
    return model, ckpt, root, pred


@pytest.mark.parametrize('bench', ['fgsm', 'pgd'])
def test_attacks(setup, attacked, capsys, bench):
    model, ckpt, root, labels = attacked
    x = load_by_hand(setup['pool'][:N_ATTACKED])
    steps, step = (1, 1.0) if bench == 'fgsm' else (5, 0.5)
    adv = attack_by_hand(model, x, labels, eps=1.0, step=step, steps=steps)
    assert (adv - x).abs().max() <= 1.0 + 1e-4 and adv.min() >= 0 and adv.max() <= 255
    with torch.no_grad():
        adv_top1 = 100.0 * (logits_by_hand(model, adv).argmax(1) == labels).float().mean()
    report, printed = run_in_process(setup, capsys, '--benchmark', bench,
                                     '--data-root', str(root), ckpt=ckpt)
    assert report['clean_top1'] == pytest.approx(100.0)
    assert 0 < report['top1'] < 100  # the attack flips some predictions, not all
    assert report['top1'] == pytest.approx(float(adv_top1))
    assert report['epsilon'] == 1.0 and report['num_images'] == N_ATTACKED
    if bench == 'pgd':
        assert report['steps'] == 5 and report['step_size'] == 0.5
    assert f'{bench}: top1 = {float(adv_top1):.2f}' in printed
