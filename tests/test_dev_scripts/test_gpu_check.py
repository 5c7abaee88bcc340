"""The maintainers' scripts of .dev_scripts/ (docs/development.md): wheel_pack.py packs a wheel
and unpacks it into the same wheel, which pip installs; gpu_check.sh on a machine without a GPU
installs from a wheelhouse (a packed wheel too), says there is no CUDA, skips the GPU steps and
still writes its report."""
import csv
import os
import os.path as osp
import subprocess
import zipfile

import pytest

from helpers import REPO

DEV = osp.join(REPO, '.dev_scripts')


def _probe_wheel(folder, module='gpucheckprobe'):
    """A minimal real wheel (one module) that pip installs from a wheelhouse."""
    name = f'{module}-0.1-py3-none-any.whl'
    dist = f'{module}-0.1.dist-info'
    files = {f'{module}.py': 'VALUE = 42\n',
             f'{dist}/METADATA': f'Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n',
             f'{dist}/WHEEL': 'Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n'
                              'Tag: py3-none-any\n'}
    files[f'{dist}/RECORD'] = ''.join(f'{k},,\n' for k in files) + f'{dist}/RECORD,,\n'
    with zipfile.ZipFile(folder / name, 'w') as zf:
        for k, v in files.items():
            zf.writestr(k, v)
    return name


def _wheel_pack(*args):
    return subprocess.run([osp.join(REPO, '.venv', 'bin', 'python'),
                           osp.join(DEV, 'wheel_pack.py'), *map(str, args)],
                          capture_output=True, text=True, timeout=60)


def test_wheel_pack_round_trip_installs(tmp_path):
    wheel = tmp_path / _probe_wheel(tmp_path)
    with zipfile.ZipFile(wheel, 'a') as zf:  # a folder entry and an executable script too
        zf.writestr('gpucheckprobe-0.1.data/scripts/', b'')
        info = zipfile.ZipInfo('gpucheckprobe-0.1.data/scripts/probe-run', (2024, 5, 6, 7, 8, 10))
        info.external_attr = 0o100755 << 16
        zf.writestr(info, '#!python\nprint(42)\n')
    proc = _wheel_pack('pack', wheel, tmp_path / 'packed')
    assert proc.returncode == 0, proc.stderr
    packed = tmp_path / 'packed' / (wheel.name + '.txz')
    assert packed.is_file() and 'MiB' in proc.stdout
    again = _wheel_pack('pack', wheel, tmp_path / 'again')
    assert (tmp_path / 'again' / packed.name).read_bytes() == packed.read_bytes()  # deterministic
    proc = _wheel_pack('unpack', packed, tmp_path / 'unpacked')
    assert proc.returncode == 0, proc.stderr
    rebuilt = tmp_path / 'unpacked' / wheel.name
    assert proc.stdout.strip() == str(rebuilt)
    with zipfile.ZipFile(wheel) as a, zipfile.ZipFile(rebuilt) as b:
        assert b.testzip() is None
        assert [i.filename for i in a.infolist()] == [i.filename for i in b.infolist()]
        for x, y in zip(a.infolist(), b.infolist()):
            assert a.read(x) == b.read(y), x.filename
            assert (x.date_time, x.external_attr >> 16 & 0o7777) == (y.date_time,
                                                                     y.external_attr >> 16 & 0o7777)
    target = tmp_path / 'target'
    pip = subprocess.run([osp.join(REPO, '.venv', 'bin', 'python'), '-m', 'pip', 'install', '-q',
                          '--disable-pip-version-check', '--no-index', '--no-deps', '--target',
                          str(target), str(rebuilt)], capture_output=True, text=True, timeout=120)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert (target / 'gpucheckprobe.py').read_text() == 'VALUE = 42\n'
    assert os.access(target / 'bin' / 'probe-run', os.X_OK)  # the mode came through
    # clear errors for what is not a wheel / packed wheel
    bad = _wheel_pack('pack', packed, tmp_path)
    assert bad.returncode == 2 and 'not a wheel (.whl)' in bad.stderr
    bad = _wheel_pack('unpack', wheel, tmp_path)
    assert bad.returncode == 2 and 'not a packed wheel (.whl.txz)' in bad.stderr
    fake = tmp_path / 'fake-0.1-py3-none-any.whl.txz'
    fake.write_bytes(b'not xz')
    bad = _wheel_pack('unpack', fake, tmp_path)
    assert bad.returncode == 2 and 'not a tar.xz' in bad.stderr


@pytest.mark.slow  # a venv, four Python processes and two pytest runs (~30 s of CPU)
def test_gpu_check_without_gpu_still_writes_its_report(tmp_path):
    wh = tmp_path / 'wheelhouse'
    wh.mkdir()
    probe = _probe_wheel(wh)
    # a second one carried only packed, as make_wheelhouse.sh stores opencv
    packed = _probe_wheel(tmp_path, 'gpucheckpacked')
    assert _wheel_pack('pack', tmp_path / packed, wh).returncode == 0
    (wh / 'manifest.tsv').write_text(f'core\t{probe}\t0.01\ttest probe\n'
                                     f'core\t{packed}.txz\t0.01\tpacked probe\n')
    # two cuda-marked tests (one slow) outside the repo: pytest starts without its conftest
    tests = tmp_path / 'cuda_tests'
    tests.mkdir()
    (tests / 'test_probe.py').write_text(
        'import pytest\npytestmark = pytest.mark.cuda\n\n'
        'def test_gpu():\n    pytest.skip("CUDA not available")\n\n'
        '@pytest.mark.slow\ndef test_slow():\n    assert 1 + 1 == 2\n')
    out = tmp_path / 'out'
    env = dict(os.environ, PYTHON=osp.join(REPO, '.venv', 'bin', 'python'),
               GPU_CHECK_TESTS=str(tests), CUDA_VISIBLE_DEVICES='')
    proc = subprocess.run(['bash', osp.join(DEV, 'gpu_check.sh'), str(wh), str(out)], cwd=REPO,
                          capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = (out / 'gpu_report.md').read_text()
    assert 'no CUDA: torch sees no GPU' in report
    rows = list(csv.DictReader(open(out / 'gpu_report.csv')))
    steps = {r['name']: r for r in rows if r['section'] == 'step'}
    assert steps['install']['status'] == 'ok'
    assert '2 wheels installed (1 unpacked from .whl.txz)' in steps['install']['detail']
    assert not (out / 'wheels').exists()  # the unpacked copy is not left in OUT_DIR
    assert steps['benchmark']['status'] == 'skipped' and steps['mmcv-cuda']['status'] == 'skipped'
    assert steps['compile-speed'] == dict(steps['compile-speed'], status='skipped', detail='no CUDA')
    # the project venv's CPU mmcv, seen through the base venv: no mmcv-lite over it, ops checked
    assert steps['mmcv-lite']['status'] == 'skipped' and '2.1.0' in steps['mmcv-lite']['detail']
    assert steps['mmcv-ops']['status'] == 'ok'
    ops = {r['name']: r['status'] for r in rows if r['section'] == 'mmcv-op'}
    assert ops == {'nms (cpu)': 'ok', 'roi_align (cpu)': 'ok', 'sigmoid_focal_loss (cpu)': 'n/a'}
    assert steps['tests-fast']['status'] == 'ok' and '1 skipped' in steps['tests-fast']['detail']
    assert steps['tests-slow']['status'] == 'ok' and '1 passed' in steps['tests-slow']['detail']
    assert 'tests-ops' not in steps  # no test_cuda_ops.py in that folder
    results = {r['name'].rsplit('::', 1)[1]: r['status'] for r in rows if r['section'] == 'test'}
    assert results == {'test_gpu': 'skipped', 'test_slow': 'passed'}
    assert '| benchmark | skipped | 0 | no CUDA |' in report
    venv_py = out / 'venv' / 'bin' / 'python'
    assert subprocess.run([str(venv_py), '-c', 'import gpucheckprobe, gpucheckpacked; '
                           'assert gpucheckprobe.VALUE == gpucheckpacked.VALUE == 42']).returncode == 0
