"""CPU distributed setup: what it changes on CPU, and that it changes nothing on GPU."""
import inspect

import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config

from helpers import free_port
from mmseq.utils import distributed_session, setup_cpu_distributed


def _cfg():
    return Config(dict(
        model=dict(type='EncoderDecoder',
                   decode_head=dict(type='FPNHead', norm_cfg=dict(type='SyncBN')),
                   auxiliary_head=[dict(norm_cfg=dict(type='SyncBN', requires_grad=True))]),
        env_cfg=dict(dist_cfg=dict(backend='nccl', timeout=60))))


@pytest.fixture
def torchrun_env(monkeypatch):
    for key, value in dict(RANK='0', WORLD_SIZE='1', LOCAL_RANK='0', MASTER_ADDR='127.0.0.1',
                           MASTER_PORT=str(free_port())).items():
        monkeypatch.setenv(key, value)
    yield
    if dist.is_initialized():
        dist.destroy_process_group()


def test_no_launcher_changes_nothing():
    cfg = _cfg()
    before = cfg.to_dict()
    assert setup_cpu_distributed(cfg, 'none') is False
    assert cfg.to_dict() == before and not dist.is_initialized()


def test_gpu_path_is_untouched(monkeypatch, torchrun_env):
    # With CUDA present mmengine's own launcher runs (nccl, device_ids=[LOCAL_RANK]).
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = _cfg()
    before = cfg.to_dict()
    assert setup_cpu_distributed(cfg, 'pytorch') is False
    assert cfg.to_dict() == before and 'model_wrapper_cfg' not in cfg
    assert not dist.is_initialized()


@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU path runs without CUDA only')
def test_cpu_path_initialises_gloo_and_edits_config(torchrun_env):
    cfg = _cfg()
    cfg.find_unused_parameters = True
    with distributed_session(cfg, 'pytorch') as owned:
        assert owned is True
        assert dist.is_initialized() and dist.get_backend() == 'gloo'
        assert dist.get_world_size() == 1
    assert not dist.is_initialized()
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    # mmengine's default (no buffer broadcast before each forward) in the spelling this torch
    # takes without a deprecation warning
    ddp_args = inspect.signature(torch.nn.parallel.DistributedDataParallel.__init__).parameters
    no_sync = ('forward_sync_buffers' if 'forward_sync_buffers' in ddp_args
               else 'broadcast_buffers')
    assert cfg.model_wrapper_cfg == dict(type='MMDistributedDataParallel', device_ids=None,
                                         find_unused_parameters=True, **{no_sync: False})
    assert cfg.model.decode_head.norm_cfg.type == 'BN'
    assert cfg.model.auxiliary_head[0].norm_cfg == dict(type='BN', requires_grad=True)


@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU path runs without CUDA only')
def test_cpu_path_keeps_user_wrapper_and_cleans_up_on_error(torchrun_env):
    cfg = _cfg()
    cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', broadcast_buffers=True)
    with pytest.raises(ZeroDivisionError):
        with distributed_session(cfg, 'pytorch'):
            assert dist.is_initialized()
            1 / 0
    assert not dist.is_initialized()
    assert cfg.model_wrapper_cfg == dict(type='MMDistributedDataParallel',
                                         broadcast_buffers=True, device_ids=None)


@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU path runs without CUDA only')
def test_cpu_path_errors_are_clear(monkeypatch):
    monkeypatch.delenv('MASTER_PORT', raising=False)
    monkeypatch.setenv('RANK', '0')
    monkeypatch.setenv('WORLD_SIZE', '1')
    monkeypatch.setenv('MASTER_ADDR', '127.0.0.1')
    with pytest.raises(RuntimeError, match='MASTER_PORT'):
        setup_cpu_distributed(_cfg(), 'pytorch')
    with pytest.raises(ValueError, match='mpi'):
        setup_cpu_distributed(_cfg(), 'mpi')
    monkeypatch.delenv('SLURM_PROCID', raising=False)
    with pytest.raises(RuntimeError, match='SLURM_PROCID'):
        setup_cpu_distributed(_cfg(), 'slurm')
