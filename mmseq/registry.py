"""The project's registries.

Every mmseq name is registered once, in mmengine's root registries, from which the registries
of mmpretrain, mmseg and mmdet descend. A registry looks a plain name up in itself and then in
its parents, so ``type='Sequencer2D'`` builds in a config of any of these scopes once
``mmseq.models`` is imported (``custom_imports``).

Each root also gets an ``mmseq`` child. It holds nothing itself; it keeps the scoped names
(``type='mmseq.Sequencer2D'``) resolving, finds them in its parent, and imports the module
that registers them on first use. The configs name the engine and data parts that way
(``mmseq.AtomicCheckpointHook``, ``mmseq.LoadSegLabels``), so they work whatever a config that
starts from them lists in ``custom_imports``.
"""
from mmengine.registry import DATASETS as ROOT_DATASETS
from mmengine.registry import HOOKS as ROOT_HOOKS
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as ROOT_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as ROOT_OPTIM_WRAPPERS
from mmengine.registry import TRANSFORMS as ROOT_TRANSFORMS
from mmengine.registry import Registry


def _with_mmseq_scope(root: Registry, location: str) -> Registry:
    """``root`` itself, after giving it the (empty) ``mmseq`` child for scoped names."""
    if 'mmseq' not in root.children:
        Registry(root.name, parent=root, scope='mmseq', locations=[location])
    return root


# Backbones, their layers, and the segmentation head.
MODELS = _with_mmseq_scope(ROOT_MODELS, 'mmseq.models')
# Engine parts: bf16 autocast optim wrapper, its compilable constructor, atomic checkpoint hook.
OPTIM_WRAPPERS = _with_mmseq_scope(ROOT_OPTIM_WRAPPERS, 'mmseq.engine')
OPTIM_WRAPPER_CONSTRUCTORS = _with_mmseq_scope(ROOT_CONSTRUCTORS, 'mmseq.engine')
HOOKS = _with_mmseq_scope(ROOT_HOOKS, 'mmseq.engine')
# Data: the loading transform and the COCO data set that check a user's files.
TRANSFORMS = _with_mmseq_scope(ROOT_TRANSFORMS, 'mmseq.datasets')
DATASETS = _with_mmseq_scope(ROOT_DATASETS, 'mmseq.datasets')
