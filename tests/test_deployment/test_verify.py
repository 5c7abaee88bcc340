"""The detection check of pytorch2onnx.py --verify: boxes tied at a cut-off (max_per_img,
score_thr), which the two runtimes may keep differently, are not mismatches; a box that one
runtime lacks above the cut-off, or a moved box, still is."""
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmseq.deployment.agreement import compare_detection

LIMITS = dict(max_per_img=100, score_thr=0.0)


def _sample(boxes, scores, labels=None):
    sample = DetDataSample(metainfo=dict(ori_shape=(400, 600)))
    sample.pred_instances = InstanceData(
        bboxes=torch.as_tensor(boxes, dtype=torch.float32),
        scores=torch.as_tensor(scores, dtype=torch.float32),
        labels=torch.zeros(len(scores), dtype=torch.long) if labels is None else labels)
    return sample


def _detections(n=101, seed=0):
    """``n`` distinct boxes with scores falling from 0.9; the last two tied at 0.2."""
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 500
    boxes = torch.cat([xy, xy + 10 + torch.rand(n, 2, generator=g) * 40], 1)
    scores = torch.linspace(0.9, 0.2, n - 1)
    return boxes, torch.cat([scores, scores[-1:] + 1e-7])


def test_tie_at_max_per_img_is_not_a_mismatch():
    boxes, scores = _detections()
    order = scores.argsort(descending=True, stable=True)
    ref = _sample(boxes[order[:100]], scores[order[:100]])
    # the other runtime ranks the two tied boxes the other way round: a different 100th box
    other = torch.cat([order[:99], order[100:101]])
    got = _sample(boxes[other], scores[other])
    row = compare_detection(ref, got, 'tie', LIMITS)
    assert row.ok, row.problems
    assert (row.matched, row.num_ref, row.num_onnx, row.ties) == (99, 100, 100, 2)
    assert '99/100/100 (2 tied)' in ' '.join(row.row())
    # without the limits (what the check did before) the same images fail
    assert not compare_detection(ref, got, 'tie').ok


def test_box_missing_above_the_cut_off_fails():
    boxes, scores = _detections()
    ref = _sample(boxes[:100], scores[:100])
    got = _sample(torch.cat([boxes[:10], boxes[11:100]]), torch.cat([scores[:10],
                                                                      scores[11:100]]))
    row = compare_detection(ref, got, 'missing', LIMITS)
    assert not row.ok and 'not matched one to one (1 unmatched' in row.problems[0]
    assert row.ties == 0


def test_different_box_in_place_of_a_tie_above_it_fails():
    """A full list whose last box is replaced by a box of a much higher score is a real
    difference, also where the other side is full."""
    boxes, scores = _detections()
    ref = _sample(boxes[:100], scores[:100])
    swapped_scores = scores[:100].clone()
    swapped_scores[-1] = 0.95
    got = _sample(torch.cat([boxes[:99], boxes[100:101]]), swapped_scores)
    row = compare_detection(ref, got, 'swap', LIMITS)
    assert not row.ok and 'not matched' in row.problems[0]


def test_moved_box_fails_and_score_thr_ties_pass():
    boxes, scores = _detections(20)
    ref = _sample(boxes[:20], scores[:20])
    moved = boxes[:20].clone()
    moved[3] += 3  # IoU about 0.8
    row = compare_detection(ref, _sample(moved, scores[:20]), 'moved', LIMITS)
    assert not row.ok and any('IoU <' in p for p in row.problems)
    # a box scoring at score_thr is kept by one side only: a tie at the threshold
    limits = dict(max_per_img=100, score_thr=float(scores[19]))
    row = compare_detection(ref, _sample(boxes[:19], scores[:19]), 'thr', limits)
    assert row.ok and row.ties == 1, row.problems
