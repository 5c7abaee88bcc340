# mmseg's runtime, with mmpretrain's randomness setting.
_base_ = 'mmseg::_base_/default_runtime.py'
randomness = dict(seed=None, deterministic=False)
