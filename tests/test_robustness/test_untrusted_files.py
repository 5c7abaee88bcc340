"""Untrusted checkpoint files: every load in mmseq's code and tools is weights_only (or
safetensors), and a pickle that would run code is refused on every entry point -- the code
it carries never runs (its marker file is never created)."""
import ast
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from helpers import (REPO, TINY_ARCH, load_tool, make_cls_data, subprocess_env,
                     write_cls_train_config)


class _RunsCode:
    """Unpickling this calls os.system: what a malicious 'weights' file does."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


@pytest.fixture
def evil(tmp_path):
    """A checkpoint that looks like weights but runs ``touch MARKER`` when unpickled."""
    marker = tmp_path / 'PWNED'
    path = tmp_path / 'evil.pth'
    sd = {f'backbone.{k}': v for k, v in _tiny_backbone().state_dict().items()}
    torch.save({'state_dict': sd, 'meta': {'note': _RunsCode(str(marker))}}, path)
    # Self-check: the file really runs the code when loaded the unsafe way.
    probe = tmp_path / 'probe'
    probe_path = tmp_path / 'probe.pth'
    torch.save({'x': _RunsCode(str(probe))}, probe_path)
    torch.load(probe_path, weights_only=False)
    assert probe.exists(), 'the test pickle does not execute code; the test would prove nothing'
    yield path, marker
    assert not marker.exists(), 'code in the checkpoint was executed'


def _tiny_backbone():
    from mmseq.models import Sequencer2D
    return Sequencer2D(arch=dict(TINY_ARCH))


def _assert_refused(err, path=None):
    msg = str(err)
    assert ('refusing to load checkpoint' in msg or 'Weights only load failed' in msg), msg
    assert 'system' in msg, msg  # names the global that was refused
    if path is not None and 'refusing' in msg:
        assert str(path) in msg


def _python_files(*dirs):
    for d in dirs:
        for root, _, files in os.walk(osp.join(REPO, d)):
            for f in files:
                if f.endswith('.py'):
                    yield osp.join(root, f)


def _load_calls(tree):
    """(call, dotted name) for every torch.load / pickle.load(s) / safetensors call."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if isinstance(owner, ast.Name):
                yield node, f'{owner.id}.{node.func.attr}'


def test_every_torch_load_is_weights_only():
    """Parse mmseq/ and tools/: every torch.load(...) passes weights_only=True, nothing
    passes weights_only=False, nothing calls pickle.load(s)."""
    found = 0
    for path in _python_files('mmseq', 'tools'):
        tree = ast.parse(open(path).read(), path)
        for call, name in _load_calls(tree):
            kwargs = {k.arg: k.value for k in call.keywords}
            where = f'{osp.relpath(path, REPO)}:{call.lineno}'
            wo = kwargs.get('weights_only')
            if wo is not None:
                assert isinstance(wo, ast.Constant) and wo.value is True, where
            if name == 'torch.load':
                found += 1
                assert wo is not None, f'{where}: torch.load without weights_only=True'
            assert name not in ('pickle.load', 'pickle.loads'), where
    assert found >= 1  # the loader in mmseq/utils/checkpoint.py at least


def test_mmengine_loads_default_to_weights_only():
    """mmengine 0.10.7 calls torch.load(filename, map_location) without weights_only: the
    Pretrained init, load_from and resume are safe only because torch >= 2.6 defaults to
    weights_only=True. Pin both facts."""
    import inspect

    from mmengine.runner import checkpoint as ckpt
    assert 'weights_only=False' not in inspect.getsource(ckpt)
    major, minor = (int(x) for x in torch.__version__.split('.')[:2])
    assert (major, minor) >= (2, 6)
    assert os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '0') in ('0', '')


def test_loader_refuses(evil):
    from mmseq.utils.checkpoint import load_checkpoint_weights_only
    path, _ = evil
    with pytest.raises(RuntimeError) as info:
        load_checkpoint_weights_only(path)
    _assert_refused(info.value, path)


def test_converter_refuses(evil, tmp_path):
    module = load_tool('tools/model_converters/sequencer_to_mmseq.py')
    path, _ = evil
    with pytest.raises(RuntimeError) as info:
        module.main([str(path), str(tmp_path / 'out.pth')])
    _assert_refused(info.value, path)
    assert not (tmp_path / 'out.pth').exists()


def test_onnx_tool_and_init_model_refuse(evil, tmp_path):
    cfg = tmp_path / 'cls.py'
    write_cls_train_config(str(cfg), str(tmp_path / 'no_data'))
    path, _ = evil
    module = load_tool('tools/deployment/pytorch2onnx.py')
    with pytest.raises(RuntimeError) as info:
        module.main([str(cfg), str(path), '--shape', '28', '28', '--out',
                     str(tmp_path / 'm.onnx')])
    _assert_refused(info.value, path)
    assert not (tmp_path / 'm.onnx').exists()

    from mmseq.apis import init_model
    with pytest.raises(RuntimeError) as info:
        init_model(str(cfg), str(path))
    _assert_refused(info.value, path)


def test_pretrained_init_refuses(evil):
    """init_cfg=dict(type='Pretrained', ...) goes through mmengine's CheckpointLoader."""
    from mmseq.models import Sequencer2D
    path, _ = evil
    backbone = Sequencer2D(arch=dict(TINY_ARCH), init_cfg=dict(
        type='Pretrained', checkpoint=str(path), prefix='backbone.'))
    with pytest.raises(Exception) as info:
        backbone.init_weights()
    _assert_refused(info.value)


@pytest.mark.slow
def test_test_tool_refuses(evil, tmp_path):
    """tools/test.py (mmengine Runner, load_from) exits non-zero with the refusal."""
    data = make_cls_data(str(tmp_path / 'data'))
    cfg = write_cls_train_config(str(tmp_path / 'cls.py'), data)
    path, _ = evil
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/test.py'), cfg, str(path),
         '--work-dir', str(tmp_path / 'work')],
        env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    tail = proc.stderr[-3000:]
    assert 'Weights only load failed' in tail or 'refusing to load' in tail, tail
    assert 'system' in tail, tail
