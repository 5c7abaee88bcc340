"""mmseq.apis.init_model builds classifier, segmentor and detector configs through their
default scopes and loads checkpoints safely and strictly."""
import copy

import pytest
import torch
from mmengine.config import Config

from helpers import TINY_ARCH
from mmseq.apis import init_model


class Payload:
    """Any class a checkpoint should not be able to make the loader instantiate."""


def tiny_cls(repo_root):
    cfg = Config.fromfile(f'{repo_root}/configs/seq2d_s_in1k.py')
    cfg.model.backbone.arch = dict(TINY_ARCH)
    cfg.model.head.in_channels = 32
    return cfg


@pytest.mark.parametrize('name,cls_name', [
    ('seq2d_s_in1k', 'ImageClassifier'),
    ('sem_fpn_seq2d_s_ade20k', 'EncoderDecoder'),
    ('retinanet_seq2d_s_coco', 'RetinaNet')])
def test_builds_each_task_through_its_scope(repo_root, name, cls_name):
    path = f'{repo_root}/configs/{name}.py'
    model = init_model(path)
    assert type(model).__name__ == cls_name and not model.training
    assert type(model.backbone).__name__ == 'Sequencer2D'
    # The Pretrained init_cfg pointed at a file that is not here: it is not needed to build.
    assert model.cfg.model.backbone.get('init_cfg') is None


def test_checkpoint_round_trip_and_strictness(repo_root, tmp_path):
    cfg = tiny_cls(repo_root)
    before = copy.deepcopy(cfg)
    model = init_model(cfg)
    assert cfg.to_dict() == before.to_dict(), 'init_model must not change the caller\'s config'
    ckpt = tmp_path / 'm.pth'
    meta = dict(dataset_meta=dict(classes=('a', 'b')))
    torch.save({'state_dict': model.state_dict(), 'meta': meta}, ckpt)
    loaded = init_model(cfg, str(ckpt))
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    assert loaded.dataset_meta['classes'] == ('a', 'b')

    # DDP-style "module." keys are accepted.
    torch.save({'module.' + k: v for k, v in model.state_dict().items()}, tmp_path / 'ddp.pth')
    init_model(cfg, str(tmp_path / 'ddp.pth'))

    # A checkpoint of another model is an error, not a silent partial load.
    other = copy.deepcopy(cfg)
    other.model.backbone.arch = dict(TINY_ARCH, layers=[1, 2, 1, 1])
    with pytest.raises(RuntimeError, match='Missing key'):
        init_model(other, str(ckpt))


def test_refuses_pickled_objects(repo_root, tmp_path):
    """weights_only=True: a checkpoint carrying arbitrary objects is not unpickled."""
    cfg = tiny_cls(repo_root)
    model = init_model(cfg)
    torch.save({'state_dict': model.state_dict(), 'meta': {'x': Payload()}},
               tmp_path / 'evil.pth')
    with pytest.raises(Exception, match='(?i)weights_only|unsupported global|not allowed'):
        init_model(cfg, str(tmp_path / 'evil.pth'))


def test_errors(repo_root, tmp_path):
    with pytest.raises(TypeError, match='config must be'):
        init_model(123)
    with pytest.raises(FileNotFoundError, match='checkpoint not found'):
        init_model(tiny_cls(repo_root), str(tmp_path / 'missing.pth'))
