# mmdet's runtime, with checkpoints written atomically (the last 3 kept) and mmpretrain's
# randomness setting.
_base_ = 'mmdet::_base_/default_runtime.py'
default_hooks = dict(checkpoint=dict(type='mmseq.AtomicCheckpointHook', max_keep_ckpts=3))
randomness = dict(seed=None, deterministic=False)
