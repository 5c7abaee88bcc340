"""Test-only hooks that put a training process into a fault at a chosen point (imported by
the configs of test_faults.py through custom_imports; not part of mmseq)."""
import io
import os
import resource
import signal
import time

import torch

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class WaitForKillHook(Hook):
    """After iteration ``at_iter`` (0-based, global): write ``marker`` and wait for the test
    to SIGKILL this process."""

    def __init__(self, at_iter: int, marker: str):
        self.at_iter = at_iter
        self.marker = marker

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.at_iter + 1 and not os.path.exists(self.marker):
            with open(self.marker, 'w') as f:
                f.write(str(os.getpid()))
            time.sleep(120)  # the test kills us long before this returns
            raise RuntimeError('expected to be killed by the test')


@HOOKS.register_module()
class DieWhileSavingHook(Hook):
    """When the checkpoint of epoch ``at_epoch`` starts being written, cap the file size at
    half of that checkpoint's size, so that the kernel kills the process (SIGXFSZ) in the
    middle of writing it: a crash at a deterministic point inside the write. Fires once per
    ``marker`` file (a resumed run is not killed again)."""

    def __init__(self, at_epoch: int, marker: str):
        self.at_epoch = at_epoch
        self.marker = marker

    def before_save_checkpoint(self, runner, checkpoint):
        if checkpoint['meta']['epoch'] != self.at_epoch or os.path.exists(self.marker):
            return
        with io.BytesIO() as buf:
            torch.save(checkpoint, buf)
            limit = buf.tell() // 2
        with open(self.marker, 'w') as f:
            f.write(str(limit))
        # Python ignores SIGXFSZ (writes would fail with EFBIG); restore the default:
        # terminate the process like a kill.
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))


@HOOKS.register_module()
class DieOnRankHook(Hook):
    """SIGKILL this process after iteration ``at_iter`` if it is rank ``rank``: a worker of
    a distributed job that dies without a word (OOM killer, node failure)."""

    def __init__(self, rank: int, at_iter: int, marker: str):
        self.rank = rank
        self.at_iter = at_iter
        self.marker = marker  # receives the time of death

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        from mmengine.dist import get_rank
        if get_rank() == self.rank and runner.iter == self.at_iter:
            with open(self.marker, 'w') as f:
                f.write(repr(time.time()))
            os.kill(os.getpid(), signal.SIGKILL)
