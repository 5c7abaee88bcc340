"""How far onnxruntime's results are from PyTorch's on the same images: the mask pixel
agreement of segmentors, and for detectors a one-to-one matching of the boxes (same label,
highest IoU first) with the IoU and score differences of the pairs."""
from dataclasses import dataclass, field
from typing import List, Optional

import torch
from mmengine.dataset import pseudo_collate

# What "the same result" means here.
MIN_PIXEL_AGREEMENT = 0.999
MIN_BOX_IOU = 0.99
MAX_SCORE_DIFF = 1e-3


@dataclass
class Agreement:
    """One image's comparison; ``ok`` when it meets the thresholds above."""
    image: str
    task: str
    pixel_agreement: Optional[float] = None  # semantic masks: fraction of equal pixels
    num_ref: int = 0  # detections of PyTorch / onnxruntime, pairs matched one to one
    num_onnx: int = 0
    matched: int = 0
    min_iou: Optional[float] = None
    max_score_diff: Optional[float] = None
    mask_iou: Optional[float] = None  # instance masks: sum of intersections / sum of unions
    ties: int = 0  # boxes of one side only, tied at a cut-off (score_thr, max_per_img)
    problems: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def row(self) -> List[str]:
        def fmt(v, spec):
            return '-' if v is None else format(v, spec)
        return [self.image, self.task, fmt(self.pixel_agreement and 100 * self.pixel_agreement,
                                           '.4f'),
                (f'{self.matched}/{self.num_ref}/{self.num_onnx}'
                 + (f' ({self.ties} tied)' if self.ties else ''))
                if self.task != 'segmentation' else '-', fmt(self.min_iou, '.5f'),
                fmt(self.max_score_diff, '.2e'),
                fmt(self.mask_iou, '.4f'), 'ok' if self.ok else '; '.join(self.problems)]


HEADER = ['image', 'task', 'mask px agree %', 'matched/torch/onnx', 'min IoU',
          'max |score diff|', 'inst. mask IoU', 'verdict']


def format_table(rows: List[Agreement]) -> str:
    cells = [HEADER] + [r.row() for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    lines = ['  '.join(c.ljust(w) for c, w in zip(cell, widths)) for cell in cells]
    lines.insert(1, '  '.join('-' * w for w in widths))
    return '\n'.join(lines)


def compare_segmentation(ref, got, image: str = '') -> Agreement:
    a = ref.pred_sem_seg.data.squeeze(0)
    b = got.pred_sem_seg.data.squeeze(0)
    result = Agreement(image, 'segmentation')
    if a.shape != b.shape:
        result.problems.append(f'mask shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}')
        return result
    result.pixel_agreement = float((a == b.to(a.dtype)).float().mean())
    if result.pixel_agreement < MIN_PIXEL_AGREEMENT:
        result.problems.append(f'pixel agreement < {100 * MIN_PIXEL_AGREEMENT}%')
    return result


def match_one_to_one(ref_boxes, ref_labels, got_boxes, got_labels):
    """Pairs (i, j, iou) of same-label boxes, greedily by decreasing IoU, each box used once."""
    from mmdet.structures.bbox import bbox_overlaps
    if len(ref_boxes) == 0 or len(got_boxes) == 0:
        return []
    iou = bbox_overlaps(ref_boxes.float(), got_boxes.float())
    iou[ref_labels[:, None] != got_labels[None, :]] = -1
    pairs, used_ref, used_got = [], set(), set()
    order = torch.argsort(iou.flatten(), descending=True)
    for flat in order.tolist():
        i, j = divmod(flat, iou.shape[1])
        if iou[i, j] <= 0:
            break
        if i in used_ref or j in used_got:
            continue
        pairs.append((i, j, float(iou[i, j])))
        used_ref.add(i)
        used_got.add(j)
    return pairs


def detection_limits(model) -> dict:
    """The cut-offs of a detector's test settings: ``max_per_img`` (the final top-k) and
    ``score_thr`` (of the box head; for two-stage detectors the R-CNN's)."""
    test_cfg = getattr(model, 'test_cfg', None) or {}
    cfg = test_cfg.get('rcnn', test_cfg) if hasattr(test_cfg, 'get') else {}
    return dict(max_per_img=int(cfg.get('max_per_img', 100)),
                score_thr=float(cfg.get('score_thr', 0.0)))


def _cutoff_scores(r, g, limits: Optional[dict]) -> List[float]:
    """Scores at which a box may be kept by one runtime and dropped by the other on a tie:
    ``score_thr``, and the lowest kept score of a side that is full (``max_per_img``)."""
    if not limits:
        return []
    cuts = [limits.get('score_thr', 0.0)]
    for side in (r, g):
        if len(side) and len(side) >= limits.get('max_per_img', float('inf')):
            cuts.append(float(side.scores.min()))
    return cuts


def compare_detection(ref, got, image: str = '', limits: Optional[dict] = None) -> Agreement:
    """Boxes matched one to one. With ``limits`` (:func:`detection_limits`), a box left
    unmatched, or a pair that disagrees, is a tie and not a mismatch when its scores are
    within ``MAX_SCORE_DIFF`` of a cut-off: ``score_thr``, or the lowest score of a side
    holding ``max_per_img`` boxes (equal scores ranked differently by the two runtimes)."""
    r, g = ref.pred_instances, got.pred_instances
    with_masks = 'masks' in r and 'masks' in g
    result = Agreement(image, 'instance_segmentation' if with_masks else 'detection',
                       num_ref=len(r), num_onnx=len(g))
    cuts = _cutoff_scores(r, g, limits)

    def at_cutoff(score) -> bool:
        return any(abs(float(score) - c) <= MAX_SCORE_DIFF for c in cuts[:1]) or \
            any(float(score) <= c + MAX_SCORE_DIFF for c in cuts[1:])

    pairs = match_one_to_one(r.bboxes, r.labels, g.bboxes, g.labels)
    kept = []
    for i, j, iou in pairs:
        bad = iou < MIN_BOX_IOU or abs(float(r.scores[i] - g.scores[j])) > MAX_SCORE_DIFF
        if bad and at_cutoff(r.scores[i]) and at_cutoff(g.scores[j]):
            continue  # two different boxes tied at the cut-off, matched by overlap only
        kept.append((i, j, iou))
    pairs = kept
    result.matched = len(pairs)
    unmatched_ref = sorted(set(range(len(r))) - {i for i, _, _ in pairs})
    unmatched_got = sorted(set(range(len(g))) - {j for _, j, _ in pairs})
    ties = [float(r.scores[i]) for i in unmatched_ref if at_cutoff(r.scores[i])] + \
        [float(g.scores[j]) for j in unmatched_got if at_cutoff(g.scores[j])]
    result.ties = len(ties)
    if pairs:
        result.min_iou = min(p[2] for p in pairs)
        result.max_score_diff = max(float(abs(r.scores[i] - g.scores[j])) for i, j, _ in pairs)
        if with_masks:
            inter = union = 0
            for i, j, _ in pairs:
                a, b = r.masks[i].bool(), g.masks[j].bool()
                inter += int((a & b).sum())
                union += int((a | b).sum())
            result.mask_iou = inter / union if union else 1.0
    real = len(unmatched_ref) + len(unmatched_got) - len(ties)
    if real:
        scores = [float(r.scores[i]) for i in unmatched_ref if not at_cutoff(r.scores[i])] + \
            [float(g.scores[j]) for j in unmatched_got if not at_cutoff(g.scores[j])]
        result.problems.append(f'boxes not matched one to one ({real} unmatched, highest '
                               f'score {max(scores):.4f})')
    if result.min_iou is not None and result.min_iou < MIN_BOX_IOU:
        result.problems.append(f'IoU < {MIN_BOX_IOU}')
    if result.max_score_diff is not None and result.max_score_diff > MAX_SCORE_DIFF:
        result.problems.append(f'score diff > {MAX_SCORE_DIFF}')
    return result


def compare(ref, got, image: str = '', limits: Optional[dict] = None) -> Agreement:
    if 'pred_sem_seg' in ref:
        return compare_segmentation(ref, got, image)
    return compare_detection(ref, got, image, limits)


def pytorch_predict(model, data: dict):
    """The PyTorch model's own ``test_step`` on a loaded image (the same pipeline output the
    ONNX side gets)."""
    with torch.no_grad():
        return model.test_step(pseudo_collate([data]))[0]
