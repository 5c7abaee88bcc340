"""mmseq checkpoints load in every OpenMMLab entry point users already use (issue 11, part 1).

torch >= 2.6 loads with ``weights_only=True``, which rejects the mmengine objects of every
checkpoint (``HistoryBuffer``, numpy scalars) unless they are allow-listed; mmseq's exact list
is installed by importing any part of mmseq (``mmseq/__init__.py``), so a config's
``custom_imports=['mmseq.models']`` is enough. Here the libraries' own tools (from
``<lib>/.mim/tools/``) and Inferencers run on a user's config as the README writes it (the
project's tiny config with ``custom_imports`` of the models only and the library's own
CheckpointHook), in subprocesses that import nothing of mmseq themselves:

- ``tools/train.py --resume`` of mmseg (latest checkpoint of the work dir), mmdet and
  mmpretrain (a checkpoint path), resuming a run of the project's config as it is;
- ``tools/test.py`` on the checkpoint of that first run. test.py sets ``load_from``, which
  mmengine's Runner loads with ``load_checkpoint`` in ``load_or_resume`` exactly as a
  training config's ``load_from`` is loaded;
- ``MMSegInferencer``, ``DetInferencer``, ``ImageClassificationInferencer`` on the config and
  the checkpoint train.py wrote.

Without the allow-list each of them fails with ``Unsupported global:
mmengine.logging.history_buffer.HistoryBuffer``.
"""
import json
import os
import os.path as osp
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import (LIBRARY_TASKS, data_options, last_checkpoint, make_task_data,
                     run_library_python, run_tool, train_in_process, user_config)

pytestmark = pytest.mark.slow

# The first run (in this process): short, so that the resumed one has work left.
FIRST_RUN = {
    'seg': {'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2,
            'default_hooks.checkpoint.interval': 2},
    'det': {},  # 1 epoch of 2 iterations
    'cls': {},  # 1 epoch of 3 iterations
}
# --cfg-options of the resumed run and the meta its last checkpoint must have.
RESUMED_RUN = {
    'seg': (['train_cfg.max_iters=4'], dict(iter=4)),
    'det': (['train_cfg.max_epochs=2'], dict(epoch=2, iter=4)),
    'cls': (['train_cfg.max_epochs=2'], dict(epoch=2, iter=6)),
}
METRIC = {'seg': 'mIoU:', 'det': 'bbox_mAP:', 'cls': 'accuracy/top1:'}


class Runs:
    """The runs of this module, started when it starts: the first training runs in this
    process, then the library tools as subprocesses, ``MMSEQ_TEST_JOBS`` (default 2) at a
    time; only the runs that the selected tests need."""

    def __init__(self, root, needed):
        self.root = root
        self.data = make_task_data(osp.join(root, 'data'))
        tasks = [t for t in LIBRARY_TASKS if ('resume', t) in needed or ('test', t) in needed]
        self.first = {task: train_in_process(task, osp.join(root, f'first_{task}'),
                                             self.data[task], FIRST_RUN[task])
                      for task in tasks}
        self.pool = ThreadPoolExecutor(int(os.environ.get('MMSEQ_TEST_JOBS', 2)))
        self.resumed = {t: self.pool.submit(self._resume, t) for t in tasks
                        if ('resume', t) in needed}
        self.tested = {t: self.pool.submit(self._test, t) for t in tasks if ('test', t) in needed}
        if 'infer' in needed:
            self.inferred = self.pool.submit(self._infer)

    def _resume(self, task):
        """The library's train.py --resume on the first run's checkpoint: (output, the
        checkpoint it wrote last)."""
        first_ckpt = self.first[task]
        if task == 'seg':
            # mmseg's --resume is a flag: the latest checkpoint of the work dir
            work, resume = osp.dirname(first_ckpt), ['--resume']
        else:
            work, resume = osp.join(self.root, f'resumed_{task}'), ['--resume', first_ckpt]
        options, _ = RESUMED_RUN[task]
        output = run_tool(LIBRARY_TASKS[task][0], 'train.py', [
            user_config(task, self.root), '--work-dir', work, *resume, '--cfg-options',
            *data_options(task, self.data[task]), *options], cwd=self.root)
        return output, last_checkpoint(work)

    def _test(self, task):
        """The library's test.py on the first run's checkpoint."""
        return run_tool(LIBRARY_TASKS[task][0], 'test.py', [
            user_config(task, self.root), self.first[task], '--work-dir',
            osp.join(self.root, f'test_{task}'), '--cfg-options',
            *data_options(task, self.data[task])], cwd=self.root)

    def _infer(self):
        """The three Inferencers, in one process, on the resumed runs' checkpoints."""
        folders = {'seg': osp.join(self.data['seg'], 'images', 'validation'),
                   'det': osp.join(self.data['det'], 'val2017'),
                   'cls': osp.join(self.data['cls'], 'val')}
        args = []
        # mmpretrain's Inferencer builds its pipeline in whatever default scope is current
        # (after DetInferencer: mmdet's, which has no ResizeEdge): it runs first, as in a
        # process of its own.
        for task in ('cls', 'seg', 'det'):
            image = osp.join(folders[task], sorted(os.listdir(folders[task]))[0])
            checkpoint = self.resumed[task].result()[1]
            args += [task, user_config(task, self.root), checkpoint, image]
        output = run_library_python([osp.join(osp.dirname(__file__), '_inferencers.py'), *args],
                                    cwd=self.root)
        line = next(ln for ln in output.splitlines() if ln.startswith('RESULTS '))
        return json.loads(line[len('RESULTS '):])


def _needed(request):
    """What the selected tests of this module need: ('resume'|'test', task) and 'infer'."""
    needed = set()
    for item in request.session.items:
        if item.module is not request.module:
            continue
        task = getattr(item, 'callspec', None) and item.callspec.params.get('task')
        if item.originalname == 'test_library_train_resume':
            needed.add(('resume', task))
        elif item.originalname == 'test_library_test_tool':
            needed.add(('test', task))
        elif item.originalname == 'test_library_inferencers':
            needed |= {'infer'} | {('resume', t) for t in LIBRARY_TASKS}
    return needed


@pytest.fixture(scope='module')
def runs(tmp_path_factory, request):
    runs = Runs(str(tmp_path_factory.mktemp('ecosystem')), _needed(request))
    yield runs
    runs.pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize('task', list(LIBRARY_TASKS))
def test_library_train_resume(runs, task):
    from mmseq.utils import load_checkpoint_weights_only
    output, checkpoint = runs.resumed[task].result()
    assert 'resumed epoch:' in output, output[-3000:]
    meta = load_checkpoint_weights_only(checkpoint)['meta']
    _, expected = RESUMED_RUN[task]
    assert {k: meta[k] for k in expected} == expected


@pytest.mark.parametrize('task', list(LIBRARY_TASKS))
def test_library_test_tool(runs, task):
    output = runs.tested[task].result()
    assert 'Load checkpoint from' in output
    assert METRIC[task] in output, output[-3000:]


def test_library_inferencers(runs):
    results = runs.inferred.result()
    errors = {task: r['error'] for task, r in results.items() if 'error' in r}
    assert not errors, '\n'.join(f'{task}:\n{err}' for task, err in errors.items())
    assert results['seg']['shape'] == [56, 70]  # the label map of the input image
    assert results['det']['boxes'] > 0  # score_thr 0: every box is kept
    assert results['cls']['scores'] == 10 and 0 <= results['cls']['pred_label'] < 10
