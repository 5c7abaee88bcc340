"""The C++ step loops are prebuilt into the package by `make setup`: a training process imports
them as a module and starts no compiler or other subprocess (issue: DDP ranks aborting while
the loops were JIT-loaded beside a live gloo process group)."""
import subprocess
import sys

from mmseq.models.layers import lstm2d_ext

_TRAIN_STEP = r'''
import subprocess
started = []
_popen = subprocess.Popen.__init__
def _record(self, args, *a, **k):
    started.append(args)
    return _popen(self, args, *a, **k)
subprocess.Popen.__init__ = _record

import torch
from mmseq.models import Sequencer2D
from mmseq.models.layers import lstm2d_ext
model = Sequencer2D(arch=dict(layers=[1, 1], patch_sizes=[7, 2], embed_dims=[16, 32],
                              hidden_sizes=[4, 8], mlp_ratios=[2, 2]), mixer_impl='fused')
model(torch.randn(2, 3, 28, 28))[0].sum().backward()
print('origin', lstm2d_ext.origin())
print('subprocesses', started)
'''


def test_setup_prebuilt_the_step_loops_for_this_cpu():
    assert lstm2d_ext.prebuilt_ready(), (
        f'{lstm2d_ext.BUILD_INFO} is missing or not for this CPU/source; run `make setup`')
    assert lstm2d_ext.origin() == 'prebuilt'
    assert lstm2d_ext.load().__name__ == lstm2d_ext.PREBUILT_MODULE


def test_a_training_process_starts_no_compiler():
    out = subprocess.run([sys.executable, '-c', _TRAIN_STEP], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'origin prebuilt' in out.stdout
    # before: ninja --version, c++ -dumpfullversion, ninja -v on every process start
    assert not any(word in out.stdout for word in ('ninja', 'c++', 'g++')), out.stdout


def test_a_build_for_another_cpu_or_source_is_not_imported(tmp_path, monkeypatch):
    record = tmp_path / '_lstm2d_steps.build'
    monkeypatch.setattr(lstm2d_ext, 'BUILD_INFO', str(record))
    assert not lstm2d_ext.prebuilt_ready()  # no record: not built by setup.py
    cpu, source = lstm2d_ext.build_info().split()
    for other in (f'cpu=0000000000 {source}\n', f'{cpu} source=0000000000\n'):
        record.write_text(other)
        assert not lstm2d_ext.prebuilt_ready()
        assert lstm2d_ext._prebuilt() is None  # never imported: it could be illegal here
    record.write_text(lstm2d_ext.build_info())
    assert lstm2d_ext.prebuilt_ready()
