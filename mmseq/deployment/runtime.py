"""Run an exported segmentor or detector with onnxruntime on image files.

The ONNX file carries its config (for the test pipeline: loading and resizing, which stay
outside the graph) and its class names, so an image goes in and a ``SegDataSample`` /
``DetDataSample`` comes out, as from ``mmseq.apis.inference_model``. This runtime needs the
training stack (mmengine, mmcv, mmseg, mmdet, torch); ``tools/deployment/ort_serve.py`` runs
the same files with onnxruntime, numpy and Pillow only.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from mmseq.utils import get_test_pipeline

from .graphs import ExportError
from .postprocess import det_data_sample, seg_data_sample

DENSE_TASKS = ('segmentation', 'detection', 'instance_segmentation')
# test-pipeline steps that read ground truth, which single images do not have
_LABEL_LOADERS = ('LoadAnnotations', 'LoadSegLabels')


def inference_pipeline(cfg: Config) -> Compose:
    """The config's test pipeline without its ground-truth loading, in the config's scope."""
    init_default_scope(cfg.get('default_scope', 'mmseq'))
    steps = [t for t in get_test_pipeline(cfg)
             if not str(t['type']).split('.')[-1] in _LABEL_LOADERS]
    return Compose(steps)


def load_image(pipeline: Compose, img: Union[str, np.ndarray]) -> dict:
    """An image file (or a BGR uint8 array) through the pipeline: ``{'inputs': (3, H, W)
    uint8 tensor, 'data_samples': sample with ori_shape, img_shape, scale_factor}``."""
    if isinstance(img, np.ndarray):
        # what the pipeline's first step (the file loader) would have produced
        data = dict(img=img, img_path=None, img_shape=img.shape[:2], ori_shape=img.shape[:2])
        for transform in pipeline.transforms[1:]:
            data = transform(data)
        return data
    if not osp.isfile(img):
        raise FileNotFoundError(f'no such image: {img}')
    return pipeline(dict(img_path=str(img)))


IMAGE_EXTS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')


def expand_images(paths: List[str]) -> List[str]:
    """Image files, with each folder replaced by the image files in it (sorted)."""
    out = []
    for path in paths:
        if osp.isdir(path):
            out += sorted(osp.join(path, n) for n in os.listdir(path)
                          if n.lower().endswith(IMAGE_EXTS))
        else:
            out.append(path)
    return out


class OnnxModel:
    """An exported dense model (``tools/deployment/pytorch2onnx.py``) on onnxruntime's CPU
    provider.

    Args:
        path: the .onnx file.
        threads: onnxruntime's intra-op threads (default: onnxruntime's choice).
    """

    def __init__(self, path: str, threads: Optional[int] = None):
        import onnxruntime as ort
        if not osp.isfile(path):
            raise FileNotFoundError(f'no such ONNX file: {path}')
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
        meta = self.session.get_modelmeta().custom_metadata_map
        self.task = meta.get('mmseq.task')
        if self.task not in DENSE_TASKS:
            raise ExportError(
                f'{path}: not a segmentor or detector exported by mmseq (task {self.task!r}); '
                'backbone and classifier files take a normalised tensor named "input": run '
                'them with onnxruntime directly')
        self.meta = meta
        self.cfg = Config.fromstring(meta['mmseq.config'], '.py')
        self.dataset_meta = json.loads(meta.get('mmseq.dataset_meta', '{}'))
        if self.dataset_meta.get('palette'):  # the visualisers want colours as tuples
            self.dataset_meta['palette'] = [tuple(c) for c in self.dataset_meta['palette']]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.pipeline = inference_pipeline(self.cfg)

    @property
    def batch_is_dynamic(self) -> bool:
        return not isinstance(self.session.get_inputs()[0].shape[0], int)

    def run(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        """The graph on a float32 (B, 3, H, W) pixel batch; outputs by name."""
        image = np.ascontiguousarray(image, dtype=np.float32)
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f'expected a (B, 3, H, W) pixel batch, got shape {image.shape}')
        if image.shape[0] != 1 and not self.batch_is_dynamic:
            raise ValueError(f'this {self.task} graph takes one image per run (its batch axis '
                             f'is fixed to 1: the number of detections differs per image); '
                             f'got a batch of {image.shape[0]}')
        outputs = self.session.run(None, {self.session.get_inputs()[0].name: image})
        return dict(zip(self.output_names, outputs))

    def load(self, img: Union[str, np.ndarray]) -> dict:
        return load_image(self.pipeline, img)

    def predict_loaded(self, data: dict):
        """The output of :meth:`load` -> the task's data sample in original-image pixels."""
        inputs = data['inputs']
        image = inputs.float().numpy()[None] if isinstance(inputs, torch.Tensor) \
            else np.asarray(inputs, np.float32)[None]
        metainfo = data['data_samples'].metainfo
        out = self.run(image)
        if self.task == 'segmentation':
            threshold = json.loads(self.meta.get('mmseq.seg_threshold', 'null'))
            return seg_data_sample(out['logits'][0], metainfo,
                                   json.loads(self.meta.get('mmseq.align_corners', 'false')),
                                   threshold)
        return det_data_sample(out['boxes'], out['scores'], out['labels'], metainfo,
                               masks=out.get('masks'),
                               mask_thr_binary=json.loads(
                                   self.meta.get('mmseq.mask_thr_binary', '0.5')))

    def predict(self, img: Union[str, np.ndarray]):
        """An image file or BGR array -> the task's data sample."""
        return self.predict_loaded(self.load(img))

    def predict_many(self, imgs: List[Union[str, np.ndarray]]) -> list:
        return [self.predict(img) for img in imgs]
