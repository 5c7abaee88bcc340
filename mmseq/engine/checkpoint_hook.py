"""A CheckpointHook that never leaves a half-written checkpoint behind.

mmengine's ``CheckpointHook`` deletes the oldest checkpoint *before* saving the new one and
``save_checkpoint`` writes straight into the final path, so a job killed while saving can leave a
truncated ``.pth`` behind, with ``last_checkpoint`` pointing at it (or at a file already
deleted). Here every file is written through :mod:`mmseq.utils.fileio` (temporary name, fsync,
rename) and old checkpoints are removed only after the new one and ``last_checkpoint`` are in
place.
"""
import glob
import os
import os.path as osp
import shutil

from mmengine.dist import is_main_process
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook

from mmseq.registry import HOOKS
from mmseq.utils.fileio import TMP_SUFFIX, atomic_write_bytes, commit_file, tmp_path_for


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` whose periodic/last checkpoints are written atomically.

    Same arguments as :class:`mmengine.hooks.CheckpointHook`. Differences:

    * the checkpoint is saved to a hidden temporary file in ``out_dir``, fsynced and renamed
      to ``epoch_N.pth`` / ``iter_N.pth``; ``last_checkpoint`` is replaced the same way,
      after the checkpoint, so ``--resume`` only ever finds complete files;
    * with ``max_keep_ckpts`` the oldest checkpoint is deleted after the new one is complete
      (mmengine deletes it first, so a crash while saving could leave no checkpoint at all);
    * temporary files left by a killed run are removed when training starts.

    Non-local storage backends (and the ``save_best`` copies) fall back to mmengine's
    behaviour.

    Example::

        default_hooks = dict(checkpoint=dict(type='mmseq.AtomicCheckpointHook', interval=1))
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if is_main_process() and self._is_local():
            for stale in glob.glob(osp.join(self.out_dir, f'.*{TMP_SUFFIX}')):
                runner.logger.warning(f'Removing {stale}, left by an interrupted save')
                if osp.isdir(stale):
                    shutil.rmtree(stale)
                else:
                    os.remove(stale)

    def _is_local(self) -> bool:
        return isinstance(self.file_backend, LocalBackend)

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not self._is_local():
            return super()._save_checkpoint_with_step(runner, step, meta)

        to_remove = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                            and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                to_remove.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        final = osp.join(self.out_dir, ckpt_filename)
        self.last_ckpt = final
        runner.message_hub.update_info('last_ckpt', final)
        tmp = tmp_path_for(final)
        # Runner.save_checkpoint is master-only: the other ranks return at once.
        try:
            runner.save_checkpoint(
                self.out_dir,
                osp.basename(tmp),
                self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                meta=meta,
                by_epoch=self.by_epoch,
                backend_args=self.backend_args,
                **self.args)
        except BaseException:
            # e.g. a full disk: drop the partial file; the previous checkpoint stays current.
            if osp.isfile(tmp):
                os.remove(tmp)
            raise
        if not is_main_process():
            return
        commit_file(tmp, final)
        atomic_write_bytes(final.encode(), osp.join(runner.work_dir, 'last_checkpoint'))
        for old_step in to_remove:
            old = osp.join(self.out_dir, self.filename_tmpl.format(old_step))
            if old == final:
                continue
            if osp.isfile(old):
                os.remove(old)
            elif osp.isdir(old):
                shutil.rmtree(old)
