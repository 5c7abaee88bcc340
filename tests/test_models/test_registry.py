"""`type='Sequencer2D'` and `type='mmseq.Sequencer2D'` must resolve whichever library's scope a
config defaults to."""
import importlib

import pytest
import torch
from mmengine.registry import DefaultScope

from helpers import TINY_ARCH


@pytest.mark.parametrize('scope,registry_module', [
    ('mmpretrain', 'mmpretrain.registry'),
    ('mmseg', 'mmseg.registry'),
    ('mmdet', 'mmdet.registry'),
])
@pytest.mark.parametrize('type_name', ['Sequencer2D', 'mmseq.Sequencer2D', 'VanillaSequencer',
                                       'mmseq.VanillaSequencer'])
def test_backbone_reachable_from_downstream_scopes(scope, registry_module, type_name):
    importlib.import_module('mmseq.models')
    models = importlib.import_module(registry_module).MODELS
    arch = dict(TINY_ARCH, pos_embed=False) if 'Vanilla' in type_name else TINY_ARCH
    if 'Vanilla' in type_name:
        arch = dict(arch, embed_dims=[32] * 4, hidden_sizes=[16] * 4, patch_sizes=[14, 1, 1, 1])
    with DefaultScope.overwrite_default_scope(scope):
        backbone = models.build(dict(type=type_name, arch=arch, out_indices=(0, 3)))
    assert type(backbone).__name__ == type_name.split('.')[-1]
    outs = backbone(torch.randn(1, 3, 28, 28))
    assert len(outs) == 2 and outs[0].dim() == 4


def test_mmseq_registers_in_the_root_with_a_scope_child():
    from mmengine.registry import MODELS as ROOT
    from mmseq.registry import MODELS
    assert MODELS is ROOT
    assert ROOT.children['mmseq'].scope == 'mmseq'


def test_backbone_does_not_need_mmcv_ops():
    # Classification must work with mmcv-lite: nothing in mmseq.models may import mmcv.ops.
    import subprocess
    import sys
    code = ('import sys, mmseq.models; '
            'bad = [m for m in sys.modules if m.startswith("mmcv.ops")]; '
            'assert not bad, bad')
    subprocess.run([sys.executable, '-c', code], check=True)
