"""mmseq: Sequencer2D (BiLSTM2D token mixing) backbones for the OpenMMLab stack.

Importing any part of mmseq (``import mmseq.models``, as a config's ``custom_imports`` does)
first runs this file, which makes the OpenMMLab entry points work with mmseq's models:

- mmengine's checkpoint objects become loadable with ``torch.load(weights_only=True)``, the
  default of torch >= 2.6 (an exact allow-list, :mod:`mmseq.utils.checkpoint`), so the
  libraries' ``tools/train.py`` (``load_from``, ``--resume``), ``tools/test.py`` and
  Inferencers load mmengine checkpoints;
- mmengine's FLOP counter counts ``nn.LSTM`` / ``GRU`` / ``RNN`` (:mod:`mmseq.utils.flop_handles`),
  so ``mmengine.analysis.get_model_complexity_info`` and the libraries'
  ``tools/analysis_tools/get_flops.py`` count the BiLSTM2D mixers;
- mmengine's ``CheckpointLoader`` reads ``timm://sequencer2d_{s,m,l}.in1k``, the public weights
  on the Hugging Face hub (cached by ``huggingface_hub``), converted to the mmpretrain
  classifier layout (:mod:`mmseq.utils.timm_weights`), so ``init_cfg`` Pretrained,
  ``load_from`` and ``tools/test.py`` take these names like a file.
"""
import warnings

# Notices of the pinned stack that no user can act on, filtered before the stack is imported:
# setuptools' about pkg_resources, which mmengine and mmcv import; mmseg's about
# LoadAnnotations(reduce_zero_label=...), which mmseg's own ADE20K config passes, and about the
# default of CrossEntropyLoss(avg_non_ignore), which every config keeps as the recipes use it.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning)
warnings.filterwarnings('ignore', message='`reduce_zero_label` will be deprecated',
                        category=UserWarning)
warnings.filterwarnings('ignore', message='Default ``avg_non_ignore`` is False',
                        category=UserWarning)

from .utils import (register_mmengine_flop_handles, register_mmengine_safe_globals,  # noqa: E402
                    register_timm_scheme)
from .version import __version__  # noqa: E402

register_mmengine_safe_globals()
register_mmengine_flop_handles()
register_timm_scheme()

__all__ = ['__version__']
