"""Loading that checks a user's segmentation labels and names the file at fault."""
import mmcv
import numpy as np
from mmengine import fileio
from mmseg.datasets.transforms import LoadAnnotations

from mmseq.registry import TRANSFORMS


def _values(labels: np.ndarray, limit: int = 8) -> str:
    found = np.unique(labels)
    shown = ', '.join(str(v) for v in found[:limit])
    return shown + (f' ... ({len(found)} values)' if len(found) > limit else '')


@TRANSFORMS.register_module()
class LoadSegLabels(LoadAnnotations):
    """mmseg's ``LoadAnnotations`` for label maps, with errors that name the file.

    Raises ``ValueError`` for a label map that cannot be read (missing, truncated, not an
    image), that holds colours instead of class indices (3 channels), whose size differs from
    its image's, or whose values fall outside ``0 .. num_classes - 1`` and ``ignore_index``
    (after ``reduce_zero_label``). Place it after ``LoadImageFromFile`` for the size check.

    An image without a label map (inference: ``tools/demo.py``, the libraries'
    ``inference_model`` and Inferencers) passes through unchanged, so a test pipeline that
    holds this step serves inference as it is. A data set sample without one is an error.

    Args:
        num_classes (int): Number of classes of the model.
        ignore_index (int): The label of pixels left out of the loss and the metric.
            Defaults to 255.
        **kwargs: ``LoadAnnotations``'s arguments (``reduce_zero_label``, ``backend_args``,
            ``imdecode_backend``).
    """

    def __init__(self, num_classes: int, ignore_index: int = 255, **kwargs):
        super().__init__(**kwargs)
        if num_classes < 1:
            raise ValueError(f'num_classes must be positive, got {num_classes}')
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def _load_seg_map(self, results: dict) -> None:
        path = results.get('seg_map_path')
        if path is None:
            # Data set samples carry 'seg_fields'; a single image for inference does not.
            if 'seg_fields' in results:
                raise ValueError(
                    f'{results.get("img_path", "a sample")}: the data set gives no label map '
                    'for this image; set data_prefix.seg_map_path (and seg_map_suffix) of the '
                    'data set in the config')
            return
        try:
            raw = mmcv.imfrombytes(fileio.get(path, backend_args=self.backend_args),
                                   flag='unchanged', backend=self.imdecode_backend)
        except Exception as error:  # the decoders' own messages do not name the file
            raise ValueError(f'{path}: cannot read this label map '
                             f'({type(error).__name__}: {error})') from error
        if raw is None:
            raise ValueError(f'{path}: cannot read this label map')
        if raw.ndim == 3 and raw.shape[2] == 1:
            raw = raw[..., 0]
        if raw.ndim != 2:
            raise ValueError(
                f'{path}: the label map has {raw.shape[2]} channels; it must hold one class '
                'index per pixel (a grayscale or palette PNG), not colours')
        image_shape = results.get('ori_shape')
        if image_shape is not None and tuple(raw.shape) != tuple(image_shape[:2]):
            raise ValueError(
                f'{path}: the label map is {raw.shape[0]}x{raw.shape[1]} (HxW) but its image '
                f'{results.get("img_path", "")} is {image_shape[0]}x{image_shape[1]}')
        labels = self._to_train_ids(raw, results)
        valid = (labels < self.num_classes) | (labels == self.ignore_index)
        if not valid.all():
            raise ValueError(
                f'{path}: label values {_values(labels[~valid])} are outside the '
                f'{self.num_classes} classes (0..{self.num_classes - 1}; {self.ignore_index} = '
                f'ignored){" after reduce_zero_label" if self.reduce_zero_label else ""}')
        results['gt_seg_map'] = labels.astype(np.uint8)
        results['seg_fields'].append('gt_seg_map')

    def _to_train_ids(self, raw: np.ndarray, results: dict) -> np.ndarray:
        """The stored values as the model's class indices (an int64 copy, so 16-bit values
        are not wrapped): ``reduce_zero_label`` moves 0 to ignored and k to k - 1; a
        dataset's ``label_map`` renumbers classes."""
        labels = raw.astype(np.int64)
        if self.reduce_zero_label is None:
            self.reduce_zero_label = results.get('reduce_zero_label', False)
        if self.reduce_zero_label:
            labels = np.where(labels == 0, self.ignore_index + 1, labels) - 1
        label_map = results.get('label_map')
        if label_map:
            mapped = labels.copy()
            for old, new in label_map.items():
                mapped[labels == old] = new
            labels = mapped
        return labels
