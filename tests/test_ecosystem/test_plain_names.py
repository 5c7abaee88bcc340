"""mmseq's names in the libraries' configs: ``type='Sequencer2D'`` (the plain name) and
``type='mmseq.Sequencer2D'`` (the scoped one) build in mmpretrain's, mmseg's and mmdet's scopes
once ``mmseq.models`` is imported, for every kind of part that mmseq registers, from one
registration (mmengine's root registries), without copies in the libraries' registries."""
import importlib

import pytest
from mmengine.registry import DefaultScope

SCOPES = ('mmpretrain', 'mmseg', 'mmdet')
# registry name -> (mmseq's names in it, the module that registers them)
PARTS = {
    'MODELS': (['Sequencer2D', 'VanillaSequencer', 'BiLSTM2D', 'StridedFPNHead'],
               ['mmseq.models', 'mmseq.models.decode_heads']),
    'TRANSFORMS': (['LoadSegLabels'], ['mmseq.datasets']),
    'DATASETS': (['CheckedCocoDataset'], ['mmseq.datasets']),
    'HOOKS': (['AtomicCheckpointHook', 'ShowDirHook'], ['mmseq.engine']),
    'OPTIM_WRAPPERS': (['AutocastOptimWrapper'], ['mmseq.engine']),
    'OPTIM_WRAPPER_CONSTRUCTORS': (['CompilableOptimWrapperConstructor'], ['mmseq.engine']),
}


@pytest.mark.parametrize('registry', sorted(PARTS))
@pytest.mark.parametrize('scope', SCOPES)
def test_every_part_by_plain_and_scoped_name(scope, registry):
    import mmengine.registry as root_registries
    names, modules = PARTS[registry]
    for module in modules:
        importlib.import_module(module)
    library = getattr(importlib.import_module(f'{scope}.registry'), registry)
    root = getattr(root_registries, registry)
    for name in names:
        with DefaultScope.overwrite_default_scope(scope):
            plain, scoped = library.get(name), library.get(f'mmseq.{name}')
        assert plain is not None, f'{name} is not found from {scope}::{library.name}'
        assert plain is scoped is root.get(name), name
        assert plain.__module__.startswith('mmseq.'), plain.__module__
        # one registration: in the root, not copied into the library's own registry
        assert name not in library.module_dict


def test_the_mmseq_scope_holds_no_copies():
    from mmengine.registry import MODELS as ROOT
    import mmseq.models  # noqa: F401
    child = ROOT.children['mmseq']
    assert child.scope == 'mmseq' and len(child.module_dict) == 0
    assert 'Sequencer2D' in ROOT.module_dict
