"""weights_only loading: real mmengine checkpoints load, pickles that would run code do not."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner

from mmseq.utils import load_checkpoint_weights_only


class _Tiny(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, inputs, data_samples=None, mode='loss'):
        out = self.fc(torch.stack(inputs) if isinstance(inputs, list) else inputs)
        return dict(loss=out.pow(2).mean()) if mode == 'loss' else out


class _Data(torch.utils.data.Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.full((3, ), float(i)))


@pytest.fixture(scope='module')
def runner_checkpoint(tmp_path_factory):
    """A checkpoint written by mmengine's Runner (optimizer, schedulers, message hub)."""
    work = tmp_path_factory.mktemp('runner')
    runner = Runner(
        model=_Tiny(),
        work_dir=str(work),
        train_dataloader=dict(dataset=_Data(), batch_size=2,
                              sampler=dict(type='DefaultSampler', shuffle=True),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=0.01)),
        param_scheduler=[dict(type='LinearLR', by_epoch=False, begin=0, end=2)],
        train_cfg=dict(by_epoch=False, max_iters=2),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False)),
        randomness=dict(seed=0))
    runner.train()
    return str(work / 'iter_2.pth')


def test_runner_checkpoint_needs_the_allow_list(runner_checkpoint):
    # In a fresh interpreter without mmseq, torch's safe default refuses mmengine's objects:
    # the allow-list is what makes resume / load_from / tools/test.py work.
    code = f'import torch; torch.load({runner_checkpoint!r}, weights_only=True)'
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert proc.returncode != 0 and 'HistoryBuffer' in proc.stderr


def test_runner_checkpoint_loads_weights_only(runner_checkpoint):
    ckpt = load_checkpoint_weights_only(runner_checkpoint)
    assert ckpt['meta']['iter'] == 2
    assert set(ckpt['state_dict']) == {'fc.weight', 'fc.bias'}
    losses = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(losses, HistoryBuffer) and len(losses.data[0]) == 2
    assert losses.statistics('mean') == pytest.approx(losses.data[0].mean())
    assert ckpt['message_hub']['log_scalars']['train/lr'].current() > 0
    assert 'state' in ckpt['optimizer']
    # mmengine's own loader goes through torch.load's weights_only default as well
    from mmengine.runner import load_checkpoint
    model = _Tiny()
    load_checkpoint(model, runner_checkpoint, map_location='cpu', strict=True)
    assert torch.equal(model.fc.weight, ckpt['state_dict']['fc.weight'])


class _Call:
    """Pickles as ``func(*args)``: the building block of code-running pickles."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __call__(self, *args):  # pickle requires the reduce function to be callable
        raise NotImplementedError

    def __reduce__(self):
        return self.func, self.args


def _assert_refused(path, marker):
    with pytest.raises(RuntimeError, match='refusing to load checkpoint') as err:
        load_checkpoint_weights_only(path)
    assert str(path) in str(err.value)
    assert not osp.exists(marker), 'the pickle ran code'
    # torch.load's default (weights_only=True) refuses it too, allow-list in place
    with pytest.raises(Exception):
        torch.load(path)
    assert not osp.exists(marker)


def test_pickle_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    payload = _Call(exec, f'open({str(marker)!r}, "w").write("x")')
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'meta': payload}, path)
    # the payload is real: an unrestricted load runs it
    torch.load(path, weights_only=False)
    assert marker.exists()
    marker.unlink()
    _assert_refused(path, marker)


def test_allowed_getattr_cannot_escape(tmp_path):
    """builtins.getattr is allowed only for HistoryBuffer's statistics methods: the classic
    escape getattr(f, '__globals__') -> __builtins__ -> exec is refused."""
    marker = tmp_path / 'pwned'
    method = _Call(getattr, HistoryBuffer, 'min')
    module_globals = _Call(getattr, method, '__globals__')
    builtins_dict = _Call(_Call(getattr, module_globals, 'get'), '__builtins__')
    exec_ = _Call(_Call(getattr, builtins_dict, 'get'), 'exec')
    payload = _Call(exec_, f'open({str(marker)!r}, "w").write("x")')
    path = tmp_path / 'evil_getattr.pth'
    torch.save({'meta': payload}, path)
    torch.load(path, weights_only=False)
    assert marker.exists()
    marker.unlink()
    _assert_refused(path, marker)


def test_safetensors_and_missing_files(tmp_path):
    from safetensors.torch import save_file
    path = tmp_path / 'w.safetensors'
    save_file({'a': torch.arange(3.)}, str(path))
    assert torch.equal(load_checkpoint_weights_only(path)['a'], torch.arange(3.))
    with pytest.raises(FileNotFoundError, match='nothere.pth'):
        load_checkpoint_weights_only(tmp_path / 'nothere.pth')
    assert os.path.isfile(path)
