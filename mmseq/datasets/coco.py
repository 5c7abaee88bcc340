"""mmdet's COCO data set with the checks a user's own annotation file needs."""
from typing import Dict, List, Sequence

from mmdet.datasets import CocoDataset
from mmengine.logging import print_log

from mmseq.registry import DATASETS


def check_classes(classes: Sequence[str], categories: Dict[int, dict], ann_file: str) -> None:
    """``classes`` must name categories of the file, in the order of their ids: mmdet numbers
    the labels by the file's order, so another order would give boxes the wrong names."""
    names = [c['name'] for _, c in sorted(categories.items())]
    missing = [c for c in classes if c not in names]
    if missing:
        raise ValueError(f'{ann_file}: classes {missing} are not categories of this file; its '
                         f'categories are {names}')
    in_file_order = [n for n in names if n in classes]
    if list(classes) != in_file_order:
        raise ValueError(f'{ann_file}: list the classes in the order of the category ids of '
                         f'this file, {in_file_order}, not {list(classes)}')


LEFT_OUT = dict(category='category not in classes', box='empty box or outside the image')


@DATASETS.register_module()
class CheckedCocoDataset(CocoDataset):
    """``CocoDataset`` that checks the class list against the annotation file.

    Raises ``ValueError`` naming the file when a class is not a category of it, when the
    classes are not in the order of the category ids, or when the file lists no image; logs
    how many annotations mmdet leaves out (categories not in ``classes``, empty or
    out-of-image boxes), which it does silently.
    """

    def load_data_list(self) -> List[dict]:
        self._classes_checked = False
        self._left_out = dict(category=0, box=0)
        data_list = super().load_data_list()
        if not data_list:
            raise ValueError(f'{self.ann_file}: the file lists no image')
        parts = [f'{count} ({LEFT_OUT[why]})' for why, count in self._left_out.items() if count]
        if parts:
            print_log(f'{self.ann_file}: annotations left out: {", ".join(parts)}',
                      logger='current')
        return data_list

    def parse_data_info(self, raw_data_info: dict):
        if not self._classes_checked:  # self.coco exists while the file is parsed
            check_classes(self.metainfo['classes'], self.coco.cats, self.ann_file)
            self._classes_checked = True
        info = raw_data_info['raw_img_info']
        for ann in raw_data_info['raw_ann_info']:
            if ann.get('ignore', False):
                continue
            if ann['category_id'] not in self.cat_ids:
                self._left_out['category'] += 1
            elif not _box_inside(ann, info['width'], info['height']):
                self._left_out['box'] += 1
        return super().parse_data_info(raw_data_info)


def _box_inside(ann: dict, width: int, height: int) -> bool:
    """What mmdet keeps: a box of positive size and area that overlaps the image."""
    x, y, w, h = ann['bbox']
    overlap_w = min(x + w, width) - max(x, 0)
    overlap_h = min(y + h, height) - max(y, 0)
    return overlap_w > 0 and overlap_h > 0 and ann.get('area', 1) > 0 and w >= 1 and h >= 1
