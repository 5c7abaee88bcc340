"""mmseq.CompilableOptimWrapperConstructor: the default constructor's parameter groups (same
parameters, lr and weight decay per group) held as plain dicts, built from any OpenMMLab
scope; an AdamW step over them traces under torch.compile, where mmengine's default
constructor's ConfigDict groups fail."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from helpers import REPO, TINY_ARCH
from mmseq.models.backbones.sequencer2d import Sequencer2D

RECIPE = Config.fromfile(osp.join(REPO, 'configs', 'seq2d_s_in1k.py')).optim_wrapper


def _wrapper_cfg(constructor):
    cfg = dict(type='OptimWrapper', optimizer=RECIPE.optimizer.to_dict(),
               paramwise_cfg=RECIPE.paramwise_cfg.to_dict())
    if constructor:
        cfg['constructor'] = constructor
    return ConfigDict(cfg)


def _groups(optimizer):
    return [({k: v for k, v in g.items() if k != 'params'}, [id(p) for p in g['params']])
            for g in optimizer.param_groups]


def test_recipe_names_the_constructor():
    assert RECIPE.constructor == 'mmseq.CompilableOptimWrapperConstructor'


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmseg', 'mmdet'])
def test_same_groups_as_default_but_plain_dicts(scope):
    model = Sequencer2D(TINY_ARCH)
    with DefaultScope.overwrite_default_scope(scope):
        default = build_optim_wrapper(model, _wrapper_cfg(None)).optimizer
        plain = build_optim_wrapper(
            model, _wrapper_cfg('mmseq.CompilableOptimWrapperConstructor')).optimizer
    assert type(default.param_groups[0]) is ConfigDict  # what the constructor is for
    assert all(type(g) is dict for g in plain.param_groups)
    assert _groups(plain) == _groups(default)
    # the recipe's exemptions are there: 1-D parameters without weight decay
    decays = {id(p): g['weight_decay'] for g in plain.param_groups for p in g['params']}
    for p in model.parameters():
        assert decays[id(p)] == (0.0 if p.ndim == 1 else RECIPE.optimizer.weight_decay)


@pytest.mark.parametrize('constructor,traces', [
    (None, False), ('mmseq.CompilableOptimWrapperConstructor', True)])
def test_compiled_adamw_step(constructor, traces):
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4))
    optimizer = build_optim_wrapper(model, _wrapper_cfg(constructor)).optimizer
    model(torch.randn(2, 3)).square().sum().backward()  # every parameter gets a gradient
    step = torch.compile(optimizer.step, backend='eager')
    if traces:
        before = [p.detach().clone() for p in model.parameters()]
        step()
        assert all(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
    else:
        with pytest.raises(Exception, match='items'):
            step()
    torch._dynamo.reset()
