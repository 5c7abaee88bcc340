"""Faults: SIGKILL mid-training and --resume, a crash while a checkpoint is being written,
a dead worker in a 2-process gloo job. All real processes on CPU, through the tools."""
import os
import os.path as osp
import re
import signal
import subprocess
import sys
import time

import pytest

from helpers import (IMPORTS, REPO, free_port, make_cls_data, subprocess_env,
                     write_cls_train_config)

pytestmark = pytest.mark.slow

TRAIN = osp.join(REPO, 'tools/train.py')
MAX_EPOCHS = 3  # 4 iterations per epoch (16 images, batch 4)


# The fault hooks are defined in tests/helpers.py.
FAULT_IMPORTS = dict(IMPORTS, imports=IMPORTS['imports'] + ['helpers'])


def _train(cfg, work_dir, *args, timeout=240):
    return subprocess.run([sys.executable, TRAIN, cfg, '--work-dir', str(work_dir), *args],
                          env=subprocess_env(), capture_output=True, text=True,
                          timeout=timeout)


def _weights(path):
    from mmseq.utils.checkpoint import load_checkpoint_weights_only
    return load_checkpoint_weights_only(path)['state_dict']


def _assert_same_weights(a, b):
    assert a.keys() == b.keys()
    diff = {k: (a[k].double() - b[k].double()).abs().max().item() for k in a}
    assert max(diff.values()) == 0, {k: v for k, v in diff.items() if v}


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return make_cls_data(str(tmp_path_factory.mktemp('imagenet')))


@pytest.fixture(scope='module')
def reference(tmp_path_factory, data_root):
    """Final weights of an uninterrupted run."""
    tmp = tmp_path_factory.mktemp('reference')
    cfg = write_cls_train_config(str(tmp / 'cfg.py'), data_root, MAX_EPOCHS)
    proc = _train(cfg, tmp / 'work')
    assert proc.returncode == 0, proc.stderr[-3000:]
    return _weights(tmp / 'work' / f'epoch_{MAX_EPOCHS}.pth')


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path, data_root, reference):
    marker = tmp_path / 'waiting_for_kill'
    # Iteration 6 (0-based) is in the middle of epoch 2; epoch 1's checkpoint exists then.
    cfg = write_cls_train_config(
        tmp_path / 'cfg.py', data_root, MAX_EPOCHS, custom_imports=FAULT_IMPORTS,
        custom_hooks=[dict(type='WaitForKillHook', at_iter=5, marker=str(marker))])
    work = tmp_path / 'work'
    proc = subprocess.Popen([sys.executable, TRAIN, cfg, '--work-dir', str(work)],
                            env=subprocess_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 180
    while not marker.exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.time() < deadline, 'training never reached the kill point'
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    proc.stderr.close()
    assert (work / 'last_checkpoint').read_text().strip().endswith('epoch_1.pth')
    assert not (work / f'epoch_{MAX_EPOCHS}.pth').exists()

    # The same config (the hook fires only once: its marker exists) resumed from work_dir.
    proc = _train(cfg, work, '--resume')
    assert proc.returncode == 0, proc.stderr[-3000:]
    _assert_same_weights(_weights(work / f'epoch_{MAX_EPOCHS}.pth'), reference)


def _killed_while_saving(tmp_path, data_root, hook_type):
    """Run until the kernel kills the process halfway through writing the 2nd checkpoint."""
    cfg = write_cls_train_config(
        tmp_path / 'cfg.py', data_root, MAX_EPOCHS, checkpoint_hook=hook_type,
        custom_imports=FAULT_IMPORTS,
        custom_hooks=[dict(type='DieWhileSavingHook', at_epoch=2,
                           marker=str(tmp_path / 'armed'))])
    work = tmp_path / 'work'
    proc = _train(cfg, work)
    assert proc.returncode == -signal.SIGXFSZ, (proc.returncode, proc.stderr[-3000:])
    return cfg, work, int((tmp_path / 'armed').read_text())


def test_kill_while_saving_keeps_previous_checkpoint(tmp_path, data_root, reference):
    cfg, work, limit = _killed_while_saving(tmp_path, data_root, 'mmseq.AtomicCheckpointHook')
    # The previous checkpoint is whole and is what resume will pick; the new one never
    # appeared under its name; the partial bytes sit in a hidden temporary file.
    assert (work / 'last_checkpoint').read_text().strip() == str(work / 'epoch_1.pth')
    assert _weights(work / 'epoch_1.pth').keys() == reference.keys()
    assert not (work / 'epoch_2.pth').exists()
    leftovers = [f for f in os.listdir(work) if f.endswith('.tmp')]
    assert leftovers and all(f.startswith('.epoch_2.pth.') for f in leftovers), leftovers
    assert all(osp.getsize(work / f) == limit for f in leftovers)

    proc = _train(cfg, work, '--resume')  # the hook has fired: not killed again
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not [f for f in os.listdir(work) if f.endswith('.tmp')]
    _assert_same_weights(_weights(work / f'epoch_{MAX_EPOCHS}.pth'), reference)


def test_stock_checkpoint_hook_loses_the_checkpoint(tmp_path, data_root):
    """Why AtomicCheckpointHook exists: mmengine's hook (max_keep_ckpts=1) deletes epoch_1
    before writing epoch_2 into its final name, so the same crash leaves only a truncated
    epoch_2.pth and nothing to resume from. If mmengine changes this, this test says so."""
    cfg, work, limit = _killed_while_saving(tmp_path, data_root, 'CheckpointHook')
    assert not (work / 'epoch_1.pth').exists()
    assert (work / 'last_checkpoint').read_text().strip() == str(work / 'epoch_1.pth')
    assert osp.getsize(work / 'epoch_2.pth') == limit  # half of it
    with pytest.raises(Exception):
        _weights(work / 'epoch_2.pth')


def test_dead_worker_ends_the_gloo_job_promptly(tmp_path, data_root):
    """Rank 1 of a 2-process gloo job (tools/dist_train.sh -> torchrun) is SIGKILLed after
    its 2nd iteration. Rank 0 must not wait forever in its next all-reduce: the whole job
    exits non-zero within a bounded time and says which rank died and how."""
    cfg = write_cls_train_config(
        tmp_path / 'cfg.py', data_root, MAX_EPOCHS, custom_imports=FAULT_IMPORTS,
        custom_hooks=[dict(type='DieOnRankHook', rank=1, at_iter=1,
                           marker=str(tmp_path / 'died_at'))])
    env = dict(subprocess_env(), PORT=str(free_port()))
    proc = subprocess.run(['bash', osp.join(REPO, 'tools/dist_train.sh'), cfg, '2',
                           '--work-dir', str(tmp_path / 'work')],
                          env=env, capture_output=True, text=True, timeout=180)
    ended = time.time()
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    elapsed = ended - float((tmp_path / 'died_at').read_text())
    print(f'job ended {elapsed:.1f} s after rank 1 died')
    assert elapsed < 60, f'job took {elapsed:.0f} s to end after a worker died'
    # torchrun's agent names the root cause: rank 1, killed by signal 9.
    assert 'ChildFailedError' in out, out[-3000:]
    assert re.search(r'Root Cause.*?rank\s*:\s*1\b.*?SIGKILL', out, re.S), out[-3000:]
    assert not (tmp_path / 'work' / f'epoch_{MAX_EPOCHS}.pth').exists()


def test_atomic_write_survives_a_failed_write(tmp_path):
    """A write that fails half-way (here: EFBIG from a file-size limit, as on a full disk)
    raises, leaves the previous file untouched and no temporary file behind."""
    target = tmp_path / 'weights.pth'
    script = """
import resource, sys, torch
from mmseq.utils import atomic_save
atomic_save({'w': torch.ones(10)}, sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
try:
    atomic_save({'w': torch.zeros(100000)}, sys.argv[1])
except OSError as err:
    print('raised', err.errno)
"""
    proc = subprocess.run([sys.executable, '-c', script, str(target)], env=subprocess_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'raised 27' in proc.stdout  # EFBIG
    from mmseq.utils.checkpoint import load_checkpoint_weights_only
    assert load_checkpoint_weights_only(str(target))['w'].tolist() == [1.0] * 10
    assert os.listdir(tmp_path) == ['weights.pth']
