"""Draw every test image, its ground truth beside the prediction, into one folder
(``tools/test.py --show-dir``).

The drawing is the config's own visualizer's: mmseg's ``SegLocalVisualizer`` (class colours
over the image), mmdet's ``DetLocalVisualizer`` (boxes, masks) or mmpretrain's
``UniversalVisualizer`` (labels and scores). Those visualizers draw in the first process only
(mmengine's ``master_only``), so the libraries' hooks keep only that process's share of a
distributed test; here the other processes send their results to the first one after each
test iteration, and it draws them all.
"""
import os
import os.path as osp
from typing import Optional, Sequence

import mmcv
from mmengine import fileio
from mmengine.dist import all_gather_object, gather_object, get_world_size, is_main_process
from mmengine.hooks import Hook

from mmseq.registry import HOOKS


@HOOKS.register_module()
class ShowDirHook(Hook):
    """Write ``out_dir/<image name>.png`` for every test image: the ground truth (where the
    test pipeline loads it) beside the prediction.

    Args:
        out_dir: the folder; created when testing starts.
        score_thr: detection only, the lowest score of a drawn box (mmdet's
            ``DetVisualizationHook`` default, 0.3).
        backend_args: how to read the images (mmengine file backends), as in the libraries'
            hooks.
    """

    priority = 'LOW'

    def __init__(self, out_dir: str, score_thr: float = 0.3,
                 backend_args: Optional[dict] = None):
        self.out_dir = out_dir
        self.score_thr = score_thr
        self.backend_args = backend_args
        self._iters = 0  # test iterations of the process that has the most

    def before_test(self, runner) -> None:
        visualizer = runner.visualizer
        if not any(hasattr(visualizer, m) for m in ('add_datasample', 'visualize_cls')):
            raise RuntimeError(
                f'--show-dir needs a task visualizer in the config (visualizer=dict(type='
                f"'SegLocalVisualizer' / 'DetLocalVisualizer' / 'UniversalVisualizer')), "
                f'not {type(visualizer).__name__}')
        if is_main_process():
            os.makedirs(self.out_dir, exist_ok=True)
        # Every process gathers as often as the one with the most iterations, so that a
        # sampler that does not round up cannot leave one process waiting for the others.
        self._iters = max(all_gather_object(len(runner.test_dataloader)))

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs: Optional[Sequence] = None) -> None:
        samples = [s.cpu() for s in outputs or () if s.get('img_path') is not None]
        if get_world_size() == 1:
            self._draw(runner.visualizer, samples)
            return
        rounds = 1
        if batch_idx == len(runner.test_dataloader) - 1:  # this process's last iteration
            rounds += self._iters - len(runner.test_dataloader)
        for _ in range(rounds):
            gathered = gather_object(samples, dst=0)
            samples = []
            if is_main_process():
                self._draw(runner.visualizer, [s for part in gathered for s in part])

    def _draw(self, visualizer, samples) -> None:
        for sample in samples:
            image = mmcv.imfrombytes(fileio.get(sample.img_path, backend_args=self.backend_args),
                                     channel_order='rgb')
            name = osp.splitext(osp.basename(sample.img_path))[0]
            out_file = osp.join(self.out_dir, f'{name}.png')
            if hasattr(visualizer, 'visualize_cls'):  # mmpretrain
                visualizer.visualize_cls(image, sample, draw_gt=True, draw_pred=True,
                                         out_file=out_file, name=name)
                continue
            kwargs = dict(draw_gt=True, draw_pred=True, out_file=out_file)
            if 'pred_instances' in sample:  # mmdet
                kwargs['pred_score_thr'] = self.score_thr
            visualizer.add_datasample(name, image, data_sample=sample, **kwargs)
