"""tools/train.py's option handling and mmseq.engine.runner, in-process (no training)."""
import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from _tools_cli import REPO
from mmseq.engine.runner import configure_amp


def _train_module():
    spec = importlib.util.spec_from_file_location('mmseq_train_tool',
                                                  osp.join(REPO, 'tools', 'train.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cfg(**optim_wrapper):
    return Config(dict(optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3),
                                          **optim_wrapper)))


def test_amp_selects_the_wrapper_this_machine_runs(monkeypatch):
    cfg = _cfg(type='OptimWrapper')
    configure_amp(cfg, amp=False)
    assert cfg.optim_wrapper.type == 'OptimWrapper'

    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = _cfg(type='OptimWrapper')
    configure_amp(cfg, amp=True)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'

    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    for cfg, amp in ((_cfg(type='OptimWrapper'), True),
                     (_cfg(type='AmpOptimWrapper', loss_scale='dynamic'), False)):
        configure_amp(cfg, amp=amp)
        assert cfg.optim_wrapper.type == 'mmseq.AutocastOptimWrapper'
        assert 'loss_scale' not in cfg.optim_wrapper
        # the name resolves from the OpenMMLab roots once mmseq.engine is imported
        from mmengine.registry import OPTIM_WRAPPERS
        assert OPTIM_WRAPPERS.get(cfg.optim_wrapper.type) is not None

    with pytest.raises(ValueError, match='--amp replaces OptimWrapper'):
        configure_amp(_cfg(type='SomethingElse'), amp=True)


def test_resume_and_work_dir_arguments(tmp_path):
    train = _train_module()
    args = train.parse_args(['c.py', '--resume'])
    assert args.resume == 'auto'
    args = train.parse_args(['c.py', '--resume', 'x.pth', '--amp'])
    assert args.resume == 'x.pth' and args.amp
    assert train.parse_args(['c.py']).resume is None
    with pytest.raises(FileNotFoundError, match='nothere.pth'):
        train.main([osp.join(REPO, 'configs', 'sem_fpn_seq2d_s_ade20k.py'), '--resume',
                    str(tmp_path / 'nothere.pth'), '--work-dir', str(tmp_path)])
