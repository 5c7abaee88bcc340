"""tools/train.py's option handling and mmseq.engine.runner, in-process (no training)."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from helpers import REPO, load_tool
from mmseq.engine.runner import configure_amp


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
    train = load_tool('tools/train.py')
    args = train.parse_args(['c.py', '--resume'])
    assert args.resume == 'auto'
    args = train.parse_args(['c.py', '--resume', 'x.pth', '--amp'])
    assert args.resume == 'x.pth' and args.amp
    assert train.parse_args(['c.py']).resume is None
    with pytest.raises(FileNotFoundError, match='nothere.pth'):
        train.main([osp.join(REPO, 'configs', 'sem_fpn_seq2d_s_ade20k.py'), '--resume',
                    str(tmp_path / 'nothere.pth'), '--work-dir', str(tmp_path)])
