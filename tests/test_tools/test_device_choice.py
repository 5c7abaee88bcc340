"""Device choice (mmseq.utils.resolve_device and the tools' --device): no silent fall back to
the CPU on a machine with an NVIDIA driver, a clear error for more ranks than GPUs.

The NVIDIA driver is a stand-in ``nvidia-smi`` (a shell script) first on ``PATH``; the tools
run for real, as subprocesses, on a tiny generated data set.
"""
import os
import os.path as osp
import pickle
import stat
import sys

import pytest
import torch
from mmengine.config import Config

from helpers import load_tool, make_cls_data, run, write_cls_train_config
from mmseq.engine.runner import select_device
from mmseq.utils import distributed_session, nvidia_driver_version, resolve_device

DRIVER = '999.12.34'
no_cuda = pytest.mark.skipif(torch.cuda.is_available(),
                             reason='what happens without CUDA (this machine has it)')


def _fake_nvidia_smi(folder, body):
    folder.mkdir(exist_ok=True)
    exe = folder / 'nvidia-smi'
    exe.write_text('#!/bin/sh\n' + body + '\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return str(folder) + os.pathsep + os.environ.get('PATH', '')


@pytest.fixture
def driver_path(tmp_path):
    """PATH with an nvidia-smi that reports DRIVER for --query-gpu=driver_version."""
    return _fake_nvidia_smi(tmp_path / 'bin', 'case "$1" in --query-gpu=driver_version) '
                            f'echo {DRIVER};; *) echo "GPU 0: fake";; esac')


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv('MMSEQ_DEVICE', raising=False)
    monkeypatch.delenv('CUDA_VISIBLE_DEVICES', raising=False)
    return monkeypatch


@no_cuda
def test_driver_without_cuda_stops_unless_cpu_on_purpose(clean_env, driver_path):
    clean_env.setenv('PATH', driver_path)
    assert nvidia_driver_version() == DRIVER
    with pytest.raises(SystemExit) as e:
        resolve_device(None)
    message = str(e.value)
    assert DRIVER in message and str(torch.version.cuda) in message
    assert '--device cpu' in message and 'MMSEQ_DEVICE=cpu' in message
    with pytest.raises(SystemExit, match=DRIVER):
        resolve_device('cuda:0')
    assert resolve_device('cpu') == torch.device('cpu')
    clean_env.setenv('MMSEQ_DEVICE', 'cpu')
    assert resolve_device(None) == torch.device('cpu')
    clean_env.setenv('MMSEQ_DEVICE', 'auto')
    with pytest.raises(SystemExit):
        resolve_device(None)
    # GPUs hidden on purpose (mmengine's convention for CPU training)
    clean_env.setenv('CUDA_VISIBLE_DEVICES', '-1')
    assert resolve_device(None) == torch.device('cpu')
    with pytest.raises(ValueError, match="'cpu', 'cuda'"):
        resolve_device('tpu')


@no_cuda
def test_no_or_broken_driver_means_cpu(clean_env, tmp_path):
    clean_env.setenv('PATH', _fake_nvidia_smi(tmp_path / 'broken', 'echo "NVIDIA-SMI has failed '
                     'because it could not communicate with the NVIDIA driver" >&2; exit 9'))
    assert nvidia_driver_version() is None
    assert resolve_device(None) == torch.device('cpu')
    with pytest.raises(SystemExit, match='no NVIDIA driver answers'):
        resolve_device('cuda')
    clean_env.setenv('PATH', _fake_nvidia_smi(tmp_path / 'hangs', 'sleep 30'))
    assert nvidia_driver_version(timeout=0.5) is None
    clean_env.setenv('PATH', str(tmp_path / 'empty'))
    assert nvidia_driver_version() is None
    assert resolve_device('auto') == torch.device('cpu')


def test_select_device_refuses_what_mmengine_would_not_do(clean_env):
    """With CUDA available mmengine places the model on it; --device cpu must say how to get
    the CPU, and a GPU index does not go with a launcher (each rank takes $LOCAL_RANK)."""
    clean_env.setattr(torch.cuda, 'is_available', lambda: True)
    clean_env.setattr(torch.cuda, 'device_count', lambda: 2)
    args = type('Args', (), dict(device='cpu', launcher='none'))()
    with pytest.raises(SystemExit, match='CUDA_VISIBLE_DEVICES=-1'):
        select_device(args)
    args.device, args.launcher = 'cuda:1', 'pytorch'
    with pytest.raises(SystemExit, match='LOCAL_RANK'):
        select_device(args)
    args.device, args.launcher = 'cuda:2', 'none'
    with pytest.raises(SystemExit, match='2 GPU'):
        select_device(args)


def test_more_ranks_than_gpus_is_a_clear_error(clean_env):
    """Instead of mmengine's torch.cuda.set_device(LOCAL_RANK): 'invalid device ordinal'."""
    clean_env.setattr(torch.cuda, 'is_available', lambda: True)
    clean_env.setattr(torch.cuda, 'device_count', lambda: 1)
    for key, value in dict(RANK='0', WORLD_SIZE='2', LOCAL_RANK='0', LOCAL_WORLD_SIZE='2',
                           MASTER_ADDR='127.0.0.1', MASTER_PORT='29999').items():
        clean_env.setenv(key, value)
    cfg = Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    # every rank of the node stops, also rank 0, whose own GPU exists
    with pytest.raises(RuntimeError, match=r'2 processes .* 1 visible GPU'):
        with distributed_session(cfg, 'pytorch'):
            pass
    clean_env.delenv('LOCAL_WORLD_SIZE')
    clean_env.setenv('LOCAL_RANK', '1')
    with pytest.raises(RuntimeError, match='tools/dist_train.sh CONFIG 1'):
        with distributed_session(cfg, 'pytorch'):
            pass
    clean_env.setenv('SLURM_LOCALID', '3')
    with pytest.raises(RuntimeError, match='1 visible GPU'):
        with distributed_session(cfg, 'slurm'):
            pass


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp('device_choice')
    data = make_cls_data(str(root / 'data'))
    cfg = write_cls_train_config(root / 'cfg.py', data, max_epochs=1)
    return root, cfg


@no_cuda
@pytest.mark.slow
def test_tools_stop_on_a_driver_without_cuda(tiny_run, driver_path, clean_env):
    root, cfg = tiny_run
    env = dict(PATH=driver_path, MMSEQ_DEVICE='', CUDA_VISIBLE_DEVICES='0')
    work = str(root / 'work')
    with pytest.raises(AssertionError) as e:  # run() asserts that the tool succeeded
        run([sys.executable, 'tools/train.py', cfg, '--work-dir', work], **env)
    assert f'nvidia-smi: driver {DRIVER}' in str(e.value), str(e.value)[-2000:]
    assert '--device cpu' in str(e.value)
    assert not osp.exists(osp.join(work, 'last_checkpoint'))
    # tools/test.py in-process: the device is checked first, before the (missing) checkpoint
    clean_env.setenv('PATH', driver_path)
    with pytest.raises(SystemExit, match=DRIVER):
        load_tool('tools/test.py').main([cfg, str(root / 'none.pth')])

    # CPU on purpose: --device cpu for training, MMSEQ_DEVICE=cpu for testing
    run([sys.executable, 'tools/train.py', cfg, '--work-dir', work, '--device', 'cpu'], **env)
    with open(osp.join(work, 'last_checkpoint')) as f:
        ckpt = f.read().strip()
    assert osp.basename(ckpt) == 'epoch_1.pth'
    preds = root / 'preds.pkl'
    run([sys.executable, 'tools/test.py', cfg, ckpt, '--work-dir', str(root / 'test'),
         '--out', str(preds)], **dict(env, MMSEQ_DEVICE='cpu'))
    with open(preds, 'rb') as f:  # written by the tool just now
        assert len(pickle.load(f)) == 4  # one prediction per validation image
