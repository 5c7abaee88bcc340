"""Robustness and generalization of ImageNet-1K classifiers (paper Sec. 4.4, App. C, Tables 8
and 9): the benchmarks' on-disk layouts, their metrics and the FGSM / PGD attacks.

Benchmarks (``BENCHMARKS``) and what they score:

- ``imagenet-a`` / ``imagenet-r``: top-1 over the release's 200 classes, the classes being the
  WordNet-id folders in the data root; the 1000 logits are restricted to those classes;
- ``imagenet-sketch`` / ``imagenet-v2``: top-1 over all 1000 classes; IN-V2's releases name
  their folders by class index (``0`` .. ``999``), which is read as such;
- ``imagenet-c``: the error of each of the 15 corruptions at severities 1-5, the corruption
  error CE_c = sum_s E_{s,c} / sum_s E^AlexNet_{s,c} and their mean, the mCE (Hendrycks &
  Dietterich, ICLR 2019), all x100 as Table 9 reports them;
- ``imagenet-real``: ReaL accuracy (Beyer et al. 2020) on the ImageNet val images: the top-1
  prediction is right if it is one of the image's ``real.json`` labels; images with no label
  are skipped;
- ``fgsm`` / ``pgd``: top-1 on ImageNet val under the attacks of the paper (after RVT): a
  perturbation of at most 1 in 0-255 pixel units (L-inf); PGD takes 5 steps of 0.5 from the
  clean image, projected back to the 1-ball and to [0, 255] after each step.

Class indices follow ImageNet-1K's order, the 1000 WordNet ids sorted (the ``ILSVRC2012``
train folders, mmpretrain's ``ImageNet``): ``data/imagenet_wnids.txt`` beside this file. The
list was checked against two public copies (timm's ``imagenet_synsets.txt`` and the ILSVRC2012
devkit's ``map_clsloc.txt`` sorted): 1000 unique ids, n01440764 .. n15075141.
"""
import contextlib
import json
import os
import os.path as osp
import re
import warnings
from functools import lru_cache
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope

from .pipelines import IMAGE_EXTS

BENCHMARKS = ('imagenet-a', 'imagenet-r', 'imagenet-sketch', 'imagenet-c', 'imagenet-v2',
              'imagenet-real', 'fgsm', 'pgd')
NUM_CLASSES = 1000

# ImageNet-C's 15 corruptions (noise, blur, weather, digital; Table 9's column order) and
# AlexNet's top-1 error on each, averaged over severities 1-5 (fractions). These are the
# normalisers of the mCE of Hendrycks & Dietterich (2019), from the spreadsheet linked in
# https://github.com/hendrycks/robustness (README, "Calculating the mCE"), as copied in
# google-research/augmix, imagenet.py (ALEXNET_ERR, "Raw AlexNet errors taken from
# https://github.com/hendrycks/robustness"). Each value equals the mean of the per-severity
# AlexNet errors that other public evaluation code lists (checked for all 15, to 1e-9), e.g.
# gaussian_noise (0.69528 + 0.82542 + 0.93554 + 0.98138 + 0.99452) / 5 = 0.886428.
CORRUPTIONS = ('gaussian_noise', 'shot_noise', 'impulse_noise', 'defocus_blur', 'glass_blur',
               'motion_blur', 'zoom_blur', 'snow', 'frost', 'fog', 'brightness', 'contrast',
               'elastic_transform', 'pixelate', 'jpeg_compression')
ALEXNET_ERRORS = dict(
    gaussian_noise=0.886428, shot_noise=0.894468, impulse_noise=0.922640,
    defocus_blur=0.819880, glass_blur=0.826268, motion_blur=0.785948, zoom_blur=0.798360,
    snow=0.866816, frost=0.826572, fog=0.819324, brightness=0.564592,
    contrast=0.853204, elastic_transform=0.646056, pixelate=0.717840,
    jpeg_compression=0.606500)
SEVERITIES = (1, 2, 3, 4, 5)

# The attacks of Table 8 (RVT's setting), in 0-255 pixel units (= 1/255 and 0.5/255 of [0, 1]).
FGSM_EPSILON = 1.0
PGD_EPSILON = 1.0
PGD_STEPS = 5
PGD_STEP_SIZE = 0.5

_VAL_NAME = re.compile(r'ILSVRC2012_val_(\d{8})\.', re.IGNORECASE)


# ----------------------------------------------------------------------------- classes
@lru_cache(maxsize=1)
def imagenet_wnids() -> Tuple[str, ...]:
    """ImageNet-1K's 1000 WordNet ids in class-index order (sorted)."""
    path = osp.join(osp.dirname(osp.abspath(__file__)), 'data', 'imagenet_wnids.txt')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} is missing: mmseq was installed without its package '
                                'data (mmseq/analysis/data/*.txt)')
    with open(path) as f:
        wnids = tuple(line.strip() for line in f if line.strip())
    if len(wnids) != NUM_CLASSES or list(wnids) != sorted(set(wnids)):
        raise RuntimeError(f'{path} must list 1000 unique, sorted WordNet ids')
    return wnids


@lru_cache(maxsize=1)
def wnid_to_index() -> Dict[str, int]:
    return {w: i for i, w in enumerate(imagenet_wnids())}


def check_imagenet_classifier(model: nn.Module, num_logits: Optional[int] = None) -> None:
    """The benchmarks score ImageNet-1K's 1000 classes: refuse any other head.

    ``num_logits`` is the width of an actual output; without it the head's ``num_classes``
    (mmpretrain heads have one) is checked.
    """
    if num_logits is None:
        num_logits = getattr(getattr(model, 'head', None), 'num_classes', None)
    if num_logits is not None and num_logits != NUM_CLASSES:
        raise ValueError(
            f'the robustness benchmarks need an ImageNet-1K classifier with a 1000-way head '
            f'(logits in the order of the sorted WordNet ids); this model has {num_logits} '
            'classes')


# ----------------------------------------------------------------------------- layouts
def _images_in(folder: str) -> List[str]:
    return sorted(
        osp.join(folder, f) for f in os.listdir(folder)
        if f.lower().endswith(IMAGE_EXTS) and osp.isfile(osp.join(folder, f)))


def _subdirs(folder: str) -> List[str]:
    return sorted(d for d in os.listdir(folder)
                  if not d.startswith('.') and osp.isdir(osp.join(folder, d)))


def _folder_class(name: str) -> Optional[int]:
    """Class index of a class folder: a WordNet id of ImageNet-1K, or an index 0..999."""
    index = wnid_to_index().get(name)
    if index is not None:
        return index
    if name.isdigit() and int(name) < NUM_CLASSES:
        return int(name)
    return None


def read_class_folders(root: str, what: str = 'images'
                       ) -> Tuple[List[str], List[int], List[int]]:
    """``root/<class>/*`` with ``<class>`` a WordNet id (``n01440764``) or a class index
    (``0`` .. ``999``, IN-V2's folders). Returns the image paths, their class indices and the
    sorted class indices of all class folders (empty ones included)."""
    if not osp.isdir(root):
        raise FileNotFoundError(f'{what}: no such folder: {root}')
    names = _subdirs(root)
    classes = {name: _folder_class(name) for name in names}
    unknown = [n for n, c in classes.items() if c is None]
    if unknown or not names:
        hint = ''
        if len(names) == 1 and unknown:
            inner = osp.join(root, names[0])
            if any(_folder_class(n) is not None for n in _subdirs(inner)):
                hint = f' (the class folders are in {inner}: pass that folder)'
        shown = ', '.join(unknown[:5]) + (', ...' if len(unknown) > 5 else '')
        raise ValueError(
            f'{what}: expected class folders named by ImageNet-1K WordNet id (n01440764, ...) '
            f'or by class index (0..999) in {root}' +
            (f'; not classes: {shown}' if unknown else '; found no folders') + hint)
    kinds = {name.isdigit() for name in names}
    if len(kinds) > 1:
        raise ValueError(f'{what}: {root} mixes WordNet-id and class-index folder names')
    paths, labels = [], []
    for name in names:
        files = _images_in(osp.join(root, name))
        paths += files
        labels += [classes[name]] * len(files)
    if not paths:
        raise FileNotFoundError(f'{what}: no images ({", ".join(IMAGE_EXTS)}) in the class '
                                f'folders of {root}')
    return paths, labels, sorted(set(classes.values()))


def read_imagenet_c(root: str, corruptions: Sequence[str] = CORRUPTIONS
                    ) -> Dict[Tuple[str, int], Tuple[List[str], List[int]]]:
    """``root/<corruption>/<severity 1-5>/<wnid>/*``: (paths, labels) per (corruption,
    severity). Every requested corruption needs all five severities."""
    unknown = [c for c in corruptions if c not in ALEXNET_ERRORS]
    if unknown:
        raise ValueError(f'imagenet-c: unknown corruptions {unknown}; the 15 of the mCE are '
                         f'{", ".join(CORRUPTIONS)}')
    if not osp.isdir(root):
        raise FileNotFoundError(f'imagenet-c: no such folder: {root}')
    missing = [f'{c}/{s}' for c in corruptions for s in SEVERITIES
               if not osp.isdir(osp.join(root, c, str(s)))]
    if missing:
        absent = [c for c in corruptions if not osp.isdir(osp.join(root, c))]
        detail = (f'corruptions missing entirely: {", ".join(absent)}; ' if absent else '')
        partial = [m for m in missing if m.split('/')[0] not in absent]
        detail += f'severity folders missing: {", ".join(partial)}; ' if partial else ''
        raise FileNotFoundError(
            f'imagenet-c: {root} lacks {len(missing)} of the {len(corruptions) * 5} '
            f'<corruption>/<severity> folders ({detail.rstrip("; ")}). The mCE needs all '
            f'{len(CORRUPTIONS)} corruptions x severities 1-5 (--corruptions evaluates a subset, '
            'reported as such)')
    cells = {}
    for c in corruptions:
        for s in SEVERITIES:
            paths, labels, _ = read_class_folders(osp.join(root, c, str(s)),
                                                  f'imagenet-c {c}/{s}')
            cells[(c, s)] = (paths, labels)
    return cells


def _val_index(path: str) -> int:
    match = _VAL_NAME.search(osp.basename(path))
    if match is None:
        raise ValueError(f'imagenet-real: {path} is not named ILSVRC2012_val_<8 digits>.*')
    return int(match.group(1)) - 1


def read_imagenet_real(root: str) -> Tuple[List[str], List[List[int]], int]:
    """``root/real.json`` (a list of label lists, one per ILSVRC2012_val_00000001..50000 in
    file-name order) beside ``root/val/`` (class folders or flat). Returns the paths and label
    lists of the images that have labels, and how many were skipped (empty list)."""
    real_file, val = osp.join(root, 'real.json'), osp.join(root, 'val')
    for path in (real_file, val):
        if not osp.exists(path):
            raise FileNotFoundError(
                f'imagenet-real: {path} not found (expected DIR/real.json beside the '
                'ImageNet val folder DIR/val/)')
    with open(real_file) as f:
        real = json.load(f)
    if not isinstance(real, list) or not all(isinstance(x, list) for x in real):
        raise ValueError(f'imagenet-real: {real_file} must be a list of label lists')
    if len(real) != 50000:
        warnings.warn(f'{real_file} has {len(real)} entries; the ReaL release has 50000')
    files = sorted(osp.join(d, f) for d, _, fs in os.walk(val) for f in fs
                   if f.lower().endswith(IMAGE_EXTS))
    if not files:
        raise FileNotFoundError(f'imagenet-real: no images in {val}')
    paths, labels, skipped = [], [], 0
    for path in sorted(files, key=_val_index):
        index = _val_index(path)
        if index >= len(real):
            raise ValueError(f'imagenet-real: {path} is image {index + 1} but {real_file} '
                             f'has labels for {len(real)} images only')
        if real[index]:
            paths.append(path)
            labels.append([int(y) for y in real[index]])
        else:
            skipped += 1
    return paths, labels, skipped


def read_imagenet_val(root: str) -> Tuple[List[str], List[int]]:
    """ImageNet val as ``root/val/<wnid>/*`` or mmpretrain's ``root/val/*`` +
    ``root/meta/val.txt`` (``<file> <label>`` lines); ``root`` may also be the val folder."""
    val = osp.join(root, 'val') if osp.isdir(osp.join(root, 'val')) else root
    if not osp.isdir(val):
        raise FileNotFoundError(f'ImageNet val: no such folder: {val}')
    if _subdirs(val):
        paths, labels, _ = read_class_folders(val, 'ImageNet val')
        return paths, labels
    ann = osp.join(osp.dirname(val), 'meta', 'val.txt')
    if not osp.isfile(ann):
        raise FileNotFoundError(
            f'ImageNet val: {val} has no class folders and {ann} (labels of a flat val '
            'folder) does not exist')
    paths, labels = [], []
    with open(ann) as f:
        for line in f:
            if line.strip():
                name, label = line.split()
                paths.append(osp.join(val, name))
                labels.append(int(label))
    return paths, labels


# ----------------------------------------------------------------------------- inference
class ImageListDataset(torch.utils.data.Dataset):
    """Images through a test pipeline (``LoadAnnotations`` dropped): the packed inputs."""

    def __init__(self, paths: Sequence[str], pipeline: Sequence[dict], scope: str):
        init_default_scope(scope)
        self.paths = list(paths)
        self.pipeline = Compose([t for t in pipeline if 'LoadAnnotations' not in t['type']])

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        return dict(inputs=self.pipeline(dict(img_path=self.paths[index]))['inputs'])


def build_loader(paths, pipeline, scope, batch_size=32, num_workers=0):
    dataset = ImageListDataset(paths, pipeline, scope)
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
        collate_fn=pseudo_collate, persistent_workers=False)


def _forward(model: nn.Module, inputs) -> torch.Tensor:
    """Logits of packed images (list of uint8 CHW) or a float (B, 3, H, W) batch in 0-255 and
    the pipeline's channel order, through the model's data preprocessor (differentiable)."""
    data = model.data_preprocessor(dict(inputs=inputs), False)
    logits = model(data['inputs'], mode='tensor')
    if isinstance(logits, (list, tuple)):
        logits = logits[-1]
    check_imagenet_classifier(model, logits.shape[-1])
    return logits


def _topk(logits: torch.Tensor, restrict: Optional[torch.Tensor], k: int = 5) -> torch.Tensor:
    """Top-k class indices, over ``restrict`` (class indices) only if given."""
    if restrict is None:
        return logits.topk(min(k, logits.shape[-1]), dim=-1).indices
    restrict = restrict.to(logits.device)
    top = logits[:, restrict].topk(min(k, len(restrict)), dim=-1).indices
    return restrict[top]


def predict(model: nn.Module, loader, restrict: Optional[Sequence[int]] = None,
            bar=None) -> torch.Tensor:
    """(N, 5) top-5 class indices (ImageNet-1K), restricted to ``restrict`` if given."""
    restrict = None if restrict is None else torch.as_tensor(list(restrict), dtype=torch.long)
    out = []
    with torch.no_grad():
        for batch in loader:
            out.append(_topk(_forward(model, batch['inputs']), restrict).cpu())
            if bar is not None:
                bar.update(len(batch['inputs']))
    return torch.cat(out)


def topk_accuracy(top: torch.Tensor, labels: Sequence[int]) -> Tuple[float, float]:
    """Top-1 and top-5 accuracy (%) of (N, k) predictions."""
    labels = torch.as_tensor(list(labels), dtype=torch.long).view(-1, 1)
    hits = top == labels
    return 100.0 * hits[:, 0].float().mean().item(), 100.0 * hits.any(1).float().mean().item()


def real_accuracy(top1: Sequence[int], label_lists: Sequence[Sequence[int]]) -> float:
    """ReaL accuracy (%): a prediction is right if it is among the image's labels."""
    right = sum(int(p) in set(labels) for p, labels in zip(top1, label_lists))
    return 100.0 * right / len(label_lists)


def corruption_errors(errors: Dict[str, Sequence[float]]) -> dict:
    """CE and mCE from top-1 errors (%) per corruption at severities 1-5.

    CE_c = sum_s E_{s,c} / sum_s E^AlexNet_{s,c} = mean_s E_{s,c} / (AlexNet's mean error);
    mCE = mean over the corruptions given, both x100.
    """
    per = {}
    for c, errs in errors.items():
        if len(errs) != len(SEVERITIES):
            raise ValueError(f'{c}: need errors at severities 1-5, got {len(errs)}')
        mean = sum(errs) / len(errs)
        per[c] = dict(errors=list(errs), mean_error=mean, alexnet_error=100 * ALEXNET_ERRORS[c],
                      ce=100.0 * mean / (100 * ALEXNET_ERRORS[c]))
    ces = [v['ce'] for v in per.values()]
    means = [v['mean_error'] for v in per.values()]
    return dict(corruptions=per, mce=sum(ces) / len(ces),
                mean_error=sum(means) / len(means),
                complete=set(per) == set(CORRUPTIONS))


# ----------------------------------------------------------------------------- attacks
@contextlib.contextmanager
def attack_mode(model: nn.Module):
    """Gradients w.r.t. the input only: the parameters are frozen for the attack. cuDNN
    computes RNN gradients only in training mode; an ``nn.RNNBase`` without dropout computes
    the same outputs in either mode, so those are switched to it (everything else, e.g. norms
    and drop path, stays in eval mode). Both are restored afterwards."""
    frozen = [p for p in model.parameters() if p.requires_grad]
    switched = [m for m in model.modules()
                if isinstance(m, nn.RNNBase) and not m.training
                and (m.dropout == 0 or m.num_layers == 1)]
    for p in frozen:
        p.requires_grad_(False)
    for m in switched:
        m.train()
    try:
        with torch.enable_grad():
            yield
    finally:
        for m in switched:
            m.eval()
        for p in frozen:
            p.requires_grad_(True)


def _input_gradient(model, x, labels):
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(_forward(model, x), labels, reduction='sum')
    return torch.autograd.grad(loss, x)[0]


def fgsm(model: nn.Module, x: torch.Tensor, labels: torch.Tensor,
         epsilon: float = FGSM_EPSILON) -> torch.Tensor:
    """One signed-gradient step of size ``epsilon`` on a 0-255 batch, clipped to [0, 255]."""
    with attack_mode(model):
        grad = _input_gradient(model, x, labels)
    return (x + epsilon * grad.sign()).clamp(0, 255).detach()


def pgd(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, epsilon: float = PGD_EPSILON,
        step_size: float = PGD_STEP_SIZE, steps: int = PGD_STEPS) -> torch.Tensor:
    """``steps`` signed-gradient steps from the clean batch, each projected to the
    L-inf ``epsilon``-ball around it and to [0, 255]."""
    adv = x.clone()
    with attack_mode(model):
        for _ in range(steps):
            adv = adv + step_size * _input_gradient(model, adv, labels).sign()
            adv = torch.max(torch.min(adv, x + epsilon), x - epsilon).clamp(0, 255).detach()
    return adv


def stack_raw(inputs: Sequence[torch.Tensor], device) -> torch.Tensor:
    """Packed uint8 images -> float (B, 3, H, W) in 0-255 (the pipeline's channel order)."""
    shapes = {tuple(t.shape) for t in inputs}
    if len(shapes) > 1:
        raise ValueError(f'the attacks need equal-size images from the test pipeline (a '
                         f'centre crop or square resize), got {sorted(shapes)}')
    return torch.stack(list(inputs)).to(device).float()


def attack_predict(model: nn.Module, loader, labels: Sequence[int], attack: Callable,
                   bar=None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Top-1 class indices on the clean and on the attacked images."""
    device = next(model.parameters()).device
    labels = torch.as_tensor(list(labels), dtype=torch.long)
    clean, adv, start = [], [], 0
    for batch in loader:
        x = stack_raw(batch['inputs'], device)
        y = labels[start:start + len(x)].to(device)
        start += len(x)
        with torch.no_grad():
            clean.append(_forward(model, x).argmax(-1).cpu())
        x_adv = attack(model, x, y)
        with torch.no_grad():
            adv.append(_forward(model, x_adv).argmax(-1).cpu())
        if bar is not None:
            bar.update(len(x))
    return torch.cat(clean), torch.cat(adv)


# ----------------------------------------------------------------------------- benchmarks
def _first(items: list, limit: Optional[int]) -> list:
    """``limit`` items evenly spaced over ``items`` (all of them without a limit)."""
    if not limit or limit >= len(items):
        return items
    return [items[i * len(items) // limit] for i in range(limit)]


def _bar(total: int, enabled: bool):
    if not enabled:
        return None
    from mmengine.utils import ProgressBar
    return ProgressBar(total)


def evaluate_benchmark(benchmark: str, model: nn.Module, data_root: str,
                       pipeline: Sequence[dict], batch_size: int = 32, num_workers: int = 0,
                       max_images: Optional[int] = None,
                       corruptions: Sequence[str] = CORRUPTIONS,
                       done: Optional[Dict[str, List[Optional[float]]]] = None,
                       on_progress: Optional[Callable[[dict], None]] = None,
                       progress: bool = True) -> dict:
    """Score ``model`` (eval mode, 1000-way) on one benchmark of ``BENCHMARKS``.

    Returns a JSON-ready dict with ``benchmark``, ``metric`` and ``value`` (the number of
    Table 8) and the details. ``max_images`` takes N images evenly spaced over the sorted
    list (per corruption and severity for IN-C). For IN-C, ``done`` holds top-1 errors
    already measured (``{corruption: [error or None per severity]}``, e.g. from an
    interrupted run) and ``on_progress`` receives the partial report after every
    corruption/severity.
    """
    if benchmark not in BENCHMARKS:
        raise ValueError(f'unknown benchmark {benchmark!r}; choose from {", ".join(BENCHMARKS)}')
    check_imagenet_classifier(model)
    scope = model.cfg.get('default_scope', 'mmpretrain') if hasattr(model, 'cfg') else \
        'mmpretrain'

    def loader(paths):
        return build_loader(paths, pipeline, scope, batch_size, num_workers)

    report = dict(benchmark=benchmark, data_root=osp.abspath(data_root))
    if benchmark in ('imagenet-a', 'imagenet-r', 'imagenet-sketch', 'imagenet-v2'):
        paths, labels, classes = read_class_folders(data_root, benchmark)
        paths, labels = _first(paths, max_images), _first(labels, max_images)
        restrict = classes if benchmark in ('imagenet-a', 'imagenet-r') else None
        if restrict is not None and len(restrict) != 200:
            warnings.warn(f'{benchmark}: {len(restrict)} class folders in {data_root}; the '
                          'release has 200')
        top = predict(model, loader(paths), restrict, _bar(len(paths), progress))
        top1, top5 = topk_accuracy(top, labels)
        report.update(metric='top1', value=top1, top1=top1, top5=top5, num_images=len(paths),
                      num_classes=len(classes), restricted_to_classes=restrict is not None)
        if restrict is not None:
            report['class_indices'] = restrict
        return report

    if benchmark == 'imagenet-real':
        paths, label_lists, skipped = read_imagenet_real(data_root)
        paths, label_lists = _first(paths, max_images), _first(label_lists, max_images)
        top = predict(model, loader(paths), None, _bar(len(paths), progress))
        top1 = real_accuracy(top[:, 0].tolist(), label_lists)
        report.update(metric='top1', value=top1, top1=top1, num_images=len(paths),
                      num_skipped_unlabelled=skipped)
        return report

    if benchmark in ('fgsm', 'pgd'):
        paths, labels = read_imagenet_val(data_root)
        paths, labels = _first(paths, max_images), _first(labels, max_images)
        attack = fgsm if benchmark == 'fgsm' else pgd
        clean, adv = attack_predict(model, loader(paths), labels, attack,
                                    _bar(len(paths), progress))
        y = torch.as_tensor(labels)
        top1 = 100.0 * (adv == y).float().mean().item()
        report.update(metric='top1', value=top1, top1=top1,
                      clean_top1=100.0 * (clean == y).float().mean().item(),
                      num_images=len(paths), epsilon=FGSM_EPSILON if attack is fgsm else
                      PGD_EPSILON, pixel_range=[0, 255], norm='Linf')
        if attack is pgd:
            report.update(steps=PGD_STEPS, step_size=PGD_STEP_SIZE, random_start=False)
        return report

    # imagenet-c
    cells = read_imagenet_c(data_root, corruptions)
    cells = {k: (_first(p, max_images), _first(y, max_images)) for k, (p, y) in cells.items()}
    errors = {c: list((done or {}).get(c) or [None] * len(SEVERITIES)) for c in corruptions}
    todo = [k for k in cells if errors[k[0]][k[1] - 1] is None]
    bar = _bar(sum(len(cells[k][0]) for k in todo), progress)
    report.update(metric='mCE', corruptions_requested=list(corruptions),
                  num_images={f'{c}/{s}': len(p) for (c, s), (p, _) in cells.items()})
    for c, s in todo:
        paths, labels = cells[(c, s)]
        top1, _ = topk_accuracy(predict(model, loader(paths), None, bar), labels)
        errors[c][s - 1] = 100.0 - top1
        if on_progress is not None:
            on_progress(dict(report, complete=False, value=None, errors=errors))
    result = corruption_errors(errors)
    report.update(value=result['mce'], **result)
    return report
