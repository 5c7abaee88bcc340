"""Inference on every shipped config that has a test pipeline, the own-data templates and the
demo configs included, through the entry points users call on a model they trained:

- the library's own Inferencer (``MMSegInferencer``, ``DetInferencer``,
  ``ImageClassificationInferencer``) for every config;
- for the templates and demo configs, which users copy and train: ``mmseq.apis``, the
  library's ``init_model`` / ``inference_model`` (mmseg) or ``init_detector`` /
  ``inference_detector`` (mmdet), and ``tools/demo.py``, all on a training checkpoint with
  the data set's classes.

Each model is the config's own, with one block per stage and narrow MLPs (the widths, and so
the necks and heads, are the config's), run on demo/demo.jpg (a photograph) resized to fit 224x160 by the config's own
test pipeline; the models are untrained, so the outputs are only checked for their form: a
label map of the image's size, boxes inside the image. Configs that are the same model and
test pipeline at this size (S, M and L differ in depth only) run once.
"""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from helpers import REPO, load_tool

IMAGE = osp.join(REPO, 'demo', 'demo.jpg')
IMAGE_HW = (300, 451)


def user_copied(name: str) -> bool:
    """Templates and demo configs, which users copy: every entry point."""
    return 'custom' in name or (name.startswith('demo/') and '/backbones/' not in name)


def shipped_configs():
    names = []
    for path in sorted(glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True)):
        rel = osp.relpath(path, osp.join(REPO, 'configs'))
        if not rel.startswith('_base_'):
            names.append(rel)
    return names


def small_arch(backbone: dict) -> None:
    """One block per stage and narrow MLPs; the config's widths, LSTMs and patch sizes."""
    from mmseq.models import Sequencer2D, VanillaSequencer
    cls = {'Sequencer2D': Sequencer2D, 'VanillaSequencer': VanillaSequencer}.get(
        str(backbone.get('type', '')).split('.')[-1])
    if cls is None:
        return
    arch = backbone.get('arch', 's')
    arch = dict(cls.arch_zoo[arch.lower()] if isinstance(arch, str) else arch)
    stages = len(arch['layers'])
    arch.update(layers=[1] * stages, mlp_ratios=[1] * stages)
    backbone['arch'] = arch
    backbone['init_cfg'] = None
    backbone['drop_path_rate'] = 0.  # training only


def classes_of(cfg: Config):
    from mmengine.registry import DATASETS
    dataset = cfg.test_dataloader.dataset
    while 'dataset' in dataset and 'metainfo' not in dataset:
        dataset = dataset.dataset
    meta = dict(dataset.get('metainfo') or {})
    if not meta.get('classes'):
        with DATASETS.switch_scope_and_registry(cfg.default_scope) as registry:
            meta = dict(registry.get(dataset.type).METAINFO)
    return {k: list(v) for k, v in meta.items() if k in ('classes', 'palette')}


def small_scale(pipeline) -> None:
    """Test images resized to fit 224x160 instead of the config's size (the steps stay)."""
    for step in pipeline or []:
        if isinstance(step.get('scale'), (tuple, list)) and len(step['scale']) == 2:
            step['scale'] = (224, 160)
        for branch in step.get('transforms', []) if step.get('type') == 'TestTimeAug' else []:
            small_scale(branch)


@pytest.fixture(scope='module')
def prepared(tmp_path_factory):
    """config name -> (small config file, checkpoint file, task, the config it shares them
    with or None)."""
    from mmseq.apis import init_model
    from mmseq.utils import get_test_pipeline, load_config
    root = tmp_path_factory.mktemp('inference')
    out, seen = {}, {}
    for i, name in enumerate(shipped_configs()):
        cfg = load_config(osp.join(REPO, 'configs', name))
        try:
            get_test_pipeline(cfg)
        except KeyError:
            continue
        model_cfg = cfg.model.get('module', cfg.model)  # a test-time augmentation wrapper
        small_arch(model_cfg.backbone)
        if cfg.default_scope == 'mmdet':  # random weights: keep the mask pasting short
            for test_cfg in (model_cfg.test_cfg, model_cfg.test_cfg.get('rcnn')):
                if test_cfg and 'max_per_img' in test_cfg:
                    test_cfg.max_per_img = 20
        if cfg.default_scope != 'mmpretrain':
            small_scale(cfg.test_dataloader.dataset.get('pipeline'))
            small_scale(cfg.get('test_pipeline'))
            small_scale(cfg.get('tta_pipeline'))
        # s / m / l differ only in depth: one run serves every config that is the same after
        # shrinking (model and test pipeline)
        key = repr((cfg.model, get_test_pipeline(cfg), cfg.get('tta_pipeline')))
        if key in seen:
            out[name] = out[seen[key]][:3] + (seen[key], )
            continue
        seen[key] = name
        config = str(root / f'{i}_{osp.basename(name)}')
        cfg.dump(config)
        checkpoint = None  # the others run with their random initialisation
        if user_copied(name):
            torch.manual_seed(0)
            model = init_model(config)
            checkpoint = str(root / f'{i}.pth')
            trained = getattr(model, 'module', model)  # what training saves, also for TTA
            torch.save(dict(state_dict=trained.state_dict(),
                            meta=dict(dataset_meta=classes_of(cfg))), checkpoint)
        task = {'mmseg': 'seg', 'mmdet': 'det', 'mmpretrain': 'cls'}[cfg.default_scope]
        out[name] = (config, checkpoint, task, None)
    return out


def test_every_config_with_a_test_pipeline_is_covered(prepared):
    names = set(prepared)
    assert {'sem_fpn_seq2d_s_custom.py', 'retinanet_seq2d_s_custom.py',
            'mask_rcnn_seq2d_s_custom.py', 'demo/sem_fpn_seq2d_hela_cpu.py',
            'demo/upernet_seq2d_hela_cpu.py', 'seq2d_s_in1k.py'} <= names
    assert len(names) >= 50, sorted(names)


def check_seg(label_map):
    label_map = np.asarray(label_map)
    assert label_map.shape == IMAGE_HW, label_map.shape


def check_boxes(boxes):
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    assert (boxes[:, :2] >= -1).all() and (boxes[:, 2] <= IMAGE_HW[1] + 1).all() \
        and (boxes[:, 3] <= IMAGE_HW[0] + 1).all()


def library_inferencer(task, config, checkpoint):
    if task == 'seg':
        from mmseg.apis import MMSegInferencer
        result = MMSegInferencer(model=config, weights=checkpoint, device='cpu')(IMAGE)
        check_seg(result['predictions'])
    elif task == 'det':
        from mmdet.apis import DetInferencer
        result = DetInferencer(model=config, weights=checkpoint, device='cpu',
                               show_progress=False)(IMAGE)
        check_boxes(result['predictions'][0]['bboxes'])
    else:
        from mmpretrain.apis import ImageClassificationInferencer
        result = ImageClassificationInferencer(model=config, pretrained=checkpoint or False,
                                               device='cpu')(IMAGE)[0]
        assert 0 <= int(result['pred_label']) < len(result['pred_scores'])


def library_functions(task, config, checkpoint):
    if task == 'seg':
        from mmseg.apis import inference_model, init_model
        result = inference_model(init_model(config, checkpoint, device='cpu'), IMAGE)
        check_seg(result.pred_sem_seg.data[0])
    elif task == 'det':
        from mmdet.apis import inference_detector, init_detector
        result = inference_detector(init_detector(config, checkpoint, device='cpu'), IMAGE)
        check_boxes(result.pred_instances.bboxes)


def mmseq_apis(task, config, checkpoint):
    from mmseq.apis import inference_model, init_model
    result = inference_model(init_model(config, checkpoint), IMAGE)
    if task == 'seg':
        check_seg(result.pred_sem_seg.data[0])
    else:
        check_boxes(result.pred_instances.bboxes)


@pytest.mark.parametrize('name', shipped_configs())
def test_inference(prepared, name, tmp_path):
    if name not in prepared:
        pytest.skip(f'{name} has no test pipeline')
    from mmengine.registry import DefaultScope
    config, checkpoint, task, same_as = prepared[name]
    if same_as and not user_copied(name):
        pytest.skip(f'the same model and test pipeline as {same_as} at this size')
    scope = {'seg': 'mmseg', 'det': 'mmdet', 'cls': 'mmpretrain'}[task]
    # one library per test, as in a user's process
    with DefaultScope.overwrite_default_scope(scope):
        library_inferencer(task, config, checkpoint)
        if task != 'cls' and user_copied(name):
            mmseq_apis(task, config, checkpoint)
            library_functions(task, config, checkpoint)
            out = str(tmp_path / 'out.png')
            load_tool('tools/demo.py').main([IMAGE, config, checkpoint, '--out', out])
            assert osp.getsize(out) > 0
