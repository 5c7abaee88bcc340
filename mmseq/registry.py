"""The project's one registry module.

``MODELS`` is a child of mmengine's root registry in scope ``mmseq``, so a config whose
``default_scope`` is mmpretrain, mmseg or mmdet can still say ``type='mmseq.Sequencer2D'``.
"""
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

MODELS = Registry('model', parent=MMENGINE_MODELS, scope='mmseq', locations=['mmseq.models'])

# Engine parts (mixed-precision optim wrapper, its compilable constructor, atomic checkpoint
# hook). Children of mmengine's roots too, so ``type='mmseq.AutocastOptimWrapper'`` resolves from any OpenMMLab scope once
# ``mmseq.engine`` is imported (``custom_imports``).
from mmengine.registry import HOOKS as MMENGINE_HOOKS  # noqa: E402
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_CONSTRUCTORS  # noqa: E402
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS  # noqa: E402

OPTIM_WRAPPERS = Registry('optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS, scope='mmseq',
                          locations=['mmseq.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry('optimizer wrapper constructor',
                                      parent=MMENGINE_CONSTRUCTORS, scope='mmseq',
                                      locations=['mmseq.engine'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='mmseq', locations=['mmseq.engine'])

# Data: the loading transforms and the COCO data set that check a user's files and name the
# file at fault (mmseq.datasets).
from mmengine.registry import DATASETS as MMENGINE_DATASETS  # noqa: E402
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS  # noqa: E402

TRANSFORMS = Registry('transform', parent=MMENGINE_TRANSFORMS, scope='mmseq',
                      locations=['mmseq.datasets'])
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, scope='mmseq',
                    locations=['mmseq.datasets'])
