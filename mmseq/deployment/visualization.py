"""Draw a prediction the way ``tools/demo.py`` does: mmseg's ``SegLocalVisualizer`` (class
colours over the image) or mmdet's ``DetLocalVisualizer`` (boxes, labels, masks)."""
import os
import os.path as osp
from typing import Union

import mmcv
import numpy as np


def draw_prediction(image: Union[str, np.ndarray], sample, dataset_meta: dict, out_file: str,
                    score_thr: float = 0.3, opacity: float = 0.5) -> str:
    """Write the visualisation of ``sample`` on ``image`` (a path or a BGR array) to
    ``out_file``; returns a one-line summary."""
    rgb = mmcv.imread(image, channel_order='rgb') if isinstance(image, str) \
        else mmcv.bgr2rgb(image)
    name = f'mmseq_onnx_{os.getpid()}'  # visualizers are named global instances
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    classes = dataset_meta.get('classes')
    if 'pred_sem_seg' in sample:
        from mmseg.visualization import SegLocalVisualizer
        vis = SegLocalVisualizer.get_instance(name, alpha=opacity)
        vis.set_dataset_meta(classes=classes, palette=dataset_meta.get('palette'))
        vis.add_datasample('onnx', rgb, sample, draw_gt=False, out_file=out_file)
        labels = sample.pred_sem_seg.data.unique().tolist()
        names = [classes[i] if classes else str(i) for i in labels]
        return f'{len(labels)} classes: ' + ', '.join(names[:10]) + (
            ' ...' if len(names) > 10 else '')
    from mmdet.visualization import DetLocalVisualizer
    vis = DetLocalVisualizer.get_instance(name)
    vis.dataset_meta = dataset_meta
    vis.add_datasample('onnx', rgb, sample, draw_gt=False, pred_score_thr=score_thr,
                       out_file=out_file)
    kept = int((sample.pred_instances.scores >= score_thr).sum())
    return f'{kept} boxes with score >= {score_thr}'
