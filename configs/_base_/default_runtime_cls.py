# mmpretrain's runtime, with checkpoints written atomically (the last 3 and the best kept).
_base_ = 'mmpretrain::_base_/default_runtime.py'
default_hooks = dict(
    checkpoint=dict(type='mmseq.AtomicCheckpointHook', max_keep_ckpts=3, save_best='auto'))
