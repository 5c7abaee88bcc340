"""The project's one registry module.

``MODELS`` is a child of mmengine's root registry in scope ``mmseq``, so a config whose
``default_scope`` is mmpretrain, mmseg or mmdet can still say ``type='mmseq.Sequencer2D'``.
"""
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

MODELS = Registry('model', parent=MMENGINE_MODELS, scope='mmseq', locations=['mmseq.models'])
