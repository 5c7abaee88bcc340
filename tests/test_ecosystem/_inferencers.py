"""Run the libraries' Inferencers on mmseq configs and checkpoints; print one JSON line.

    python _inferencers.py seg CONFIG CHECKPOINT IMAGE [det ...] [cls ...]

Each Inferencer is built and run on its own (an error in one is reported, the others still
run), with nothing of mmseq imported here: only the configs' ``custom_imports`` import it.
"""
import json
import sys
import traceback


def seg(config, checkpoint, image):
    from mmseg.apis import MMSegInferencer
    inferencer = MMSegInferencer(model=config, weights=checkpoint, device='cpu')
    result = inferencer(image)
    return dict(shape=list(result['predictions'].shape))


def det(config, checkpoint, image):
    from mmdet.apis import DetInferencer
    inferencer = DetInferencer(model=config, weights=checkpoint, device='cpu')
    result = inferencer(image)
    return dict(boxes=len(result['predictions'][0]['bboxes']))


def cls(config, checkpoint, image):
    from mmpretrain.apis import ImageClassificationInferencer
    inferencer = ImageClassificationInferencer(model=config, pretrained=checkpoint, device='cpu')
    result = inferencer(image)[0]
    return dict(pred_label=int(result['pred_label']), scores=len(result['pred_scores']))


def main(argv):
    results = {}
    for i in range(0, len(argv), 4):
        task, config, checkpoint, image = argv[i:i + 4]
        try:
            results[task] = globals()[task](config, checkpoint, image)
        except Exception:  # noqa: BLE001  reported to the test, which fails on it
            results[task] = dict(error=traceback.format_exc(limit=-6))
    print('RESULTS ' + json.dumps(results))


if __name__ == '__main__':
    main(sys.argv[1:])
