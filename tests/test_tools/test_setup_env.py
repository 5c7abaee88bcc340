"""tools/setup_env.sh's mmcv flavour and stamp logic, the C++20 compiler wrappers, the mmcv
kernel check (tools/misc/check_mmcv_ops.py) and tools/misc/gpu_check.sh without a GPU."""
import csv
import os
import os.path as osp
import shutil
import subprocess
import zipfile

import pytest

from helpers import REPO, load_tool

SETUP = osp.join(REPO, 'tools', 'setup_env.sh')
MISC = osp.join(REPO, 'tools', 'misc')
NVCC = '/usr/local/cuda/bin/nvcc' if osp.exists('/usr/local/cuda/bin/nvcc') else shutil.which('nvcc')


def flavour(tmp_path, **env):
    """``setup_env.sh --print-flavour`` as a dict, or the failed process."""
    base = {k: v for k, v in os.environ.items()
            if k not in ('MMSEQ_CUDA', 'TORCH_CUDA_ARCH_LIST', 'CUDA_VISIBLE_DEVICES')}
    base['MMSEQ_MMCV_WHEELS'] = str(tmp_path / 'wheels')
    proc = subprocess.run(['bash', SETUP, '--print-flavour'], cwd=REPO, capture_output=True,
                          text=True, env=dict(base, **env), timeout=60)
    if proc.returncode:
        return proc
    return dict(line.split('=', 1) for line in proc.stdout.splitlines())


def fake_nvidia_smi(tmp_path, caps):
    """An nvidia-smi that reports these compute capabilities (the query setup_env.sh makes)."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    script = bin_dir / 'nvidia-smi'
    script.write_text('#!/bin/sh\n[ "$1" = --query-gpu=compute_cap ] || exit 9\n'
                      + ''.join(f'echo {c}\n' for c in caps))
    script.chmod(0o755)
    return f'{bin_dir}:{os.environ["PATH"]}'


def test_flavours_have_their_own_wheel_folder_and_stamp_key(tmp_path):
    cpu = flavour(tmp_path, MMSEQ_CUDA='0')
    cuda = flavour(tmp_path, MMSEQ_CUDA='1', TORCH_CUDA_ARCH_LIST='8.0;9.0')
    cuda90 = flavour(tmp_path, MMSEQ_CUDA='1', TORCH_CUDA_ARCH_LIST='9.0')
    assert cpu['flavour'] == 'cpu' and cpu['arch'] == ''
    assert cuda['flavour'] == 'cuda-8.0_9.0' and cuda['arch'] == '8.0 9.0'
    assert cuda90['flavour'] == 'cuda-9.0'
    for f in (cpu, cuda, cuda90):
        assert f['wheel_dir'].startswith(str(tmp_path / 'wheels' / 'torch-'))
        assert f['wheel_dir'].endswith('/' + f['flavour'])
    # the stamp of a complete CPU venv is not taken for a CUDA one, nor one arch for another
    assert len({cpu['pins_hash'], cuda['pins_hash'], cuda90['pins_hash']}) == 3
    assert flavour(tmp_path, MMSEQ_CUDA='0') == cpu  # deterministic


def test_visible_gpu_picks_cuda_with_its_arch(tmp_path):
    path = fake_nvidia_smi(tmp_path, ['9.0', '9.0', '8.6'])
    assert flavour(tmp_path, PATH=path)['flavour'] == 'cuda-8.6_9.0'
    # TORCH_CUDA_ARCH_LIST wins over the GPUs; MMSEQ_CUDA=0 and hidden GPUs give the CPU flavour
    assert flavour(tmp_path, PATH=path, TORCH_CUDA_ARCH_LIST='9.0')['flavour'] == 'cuda-9.0'
    assert flavour(tmp_path, PATH=path, MMSEQ_CUDA='0')['flavour'] == 'cpu'
    assert flavour(tmp_path, PATH=path, CUDA_VISIBLE_DEVICES='')['flavour'] == 'cpu'


def test_cuda_without_gpu_or_arch_list_is_a_clear_error(tmp_path):
    proc = flavour(tmp_path, MMSEQ_CUDA='1', CUDA_VISIBLE_DEVICES='')
    assert proc.returncode == 2 and 'set TORCH_CUDA_ARCH_LIST' in proc.stderr
    proc = flavour(tmp_path, MMSEQ_CUDA='yes')
    assert proc.returncode == 2 and 'MMSEQ_CUDA must be 0 or 1' in proc.stderr


def test_nvcc_wrapper_passes_everything_but_the_standard(tmp_path):
    echo = tmp_path / 'echo_args.sh'
    echo.write_text('#!/bin/sh\nfor a in "$@"; do echo "[$a]"; done\n')
    echo.chmod(0o755)
    args = ['-std=c++17', '-O3', '--compiler-options', "'-fPIC'", '-DNAME="a b"', '-c', 'x.cu']
    out = subprocess.run([osp.join(MISC, 'nvcc20.sh'), *args], capture_output=True, text=True,
                         env=dict(os.environ, MMSEQ_REAL_NVCC=str(echo)), check=True).stdout
    assert out.split('\n')[:-1] == [f'[{a}]' for a in ['-std=c++20', *args[1:]]]


@pytest.mark.skipif(NVCC is None, reason='no nvcc')
def test_nvcc_wrapper_builds_cpp20_device_code_and_the_check_sees_its_kernels(tmp_path):
    """mmcv's -std=c++17 reaches nvcc through the wrapper as C++20 (the source needs it), and
    check_mmcv_ops reads the kernels' architecture and the CUDA runtime from the library."""
    src = tmp_path / 'k.cu'
    src.write_text('#include <concepts>\n'
                   'template <std::floating_point T> __global__ void scale(T *x) { x[0] *= 2; }\n'
                   'template __global__ void scale<float>(float *);\n')
    lib = tmp_path / 'libk.so'
    cmd = [osp.join(MISC, 'nvcc20.sh'), '-std=c++17', '-shared', '-Xcompiler', '-fPIC',
           '-gencode', 'arch=compute_90,code=sm_90', '-cudart', 'shared', str(src), '-o', str(lib)]
    env = dict(os.environ, MMSEQ_REAL_NVCC=NVCC)
    subprocess.run(cmd, check=True, capture_output=True, env=env, timeout=120)
    plain = subprocess.run([NVCC, *cmd[1:]], capture_output=True, text=True, env=env)
    assert plain.returncode != 0  # without the wrapper C++17 rejects the concept
    check = load_tool('tools/misc/check_mmcv_ops.py')
    info = check.describe_extension(str(lib))
    assert any(x.startswith('libcudart') for x in info['cuda_libraries']) and info['has_cuda']
    if info['elf_archs'] is not None:  # cuobjdump found (triton's copy in this venv)
        assert info['elf_archs'] == ['sm_90'] and info['ptx_archs'] == []
        assert check.arch_failures(info, ['9.0'], ['9.0']) == []
        assert 'no sm_80 kernels' in check.arch_failures(info, ['8.0'])[0]
        assert 'visible GPU (sm_100' in check.arch_failures(info, [], ['10.0'])[0]


def test_cxx_wrapper_compiles_cpp20_given_cpp17(tmp_path):
    src = tmp_path / 'a.cpp'
    src.write_text('#include <concepts>\ntemplate <std::integral T> T twice(T x) { return 2 * x; }\n'
                   'int main() { return twice(0); }\n')
    subprocess.run([osp.join(MISC, 'cxx20.sh'), '-std=c++17', str(src), '-o',
                    str(tmp_path / 'a')], check=True, timeout=60)
    assert subprocess.run([str(tmp_path / 'a')]).returncode == 0


def test_mmcv_kernel_check_on_the_installed_cpu_build(tmp_path, capsys):
    check = load_tool('tools/misc/check_mmcv_ops.py')
    out_json = tmp_path / 'ops.json'
    assert check.main(['--flavour', 'cpu', '--device', 'cpu', '--json', str(out_json)]) == 0
    text = capsys.readouterr().out
    assert 'CPU-only build' in text and text.rstrip().endswith('check_mmcv_ops: ok')
    import json
    info = json.loads(out_json.read_text())
    status = {(r['op'], r['device']): r['status'] for r in info['ops']}
    assert status == {('nms', 'cpu'): 'ok', ('roi_align', 'cpu'): 'ok',
                      ('sigmoid_focal_loss', 'cpu'): 'n/a'}
    assert info['compiling_cuda'] == 'not available' and info['cuda_libraries'] == []
    # the same build for the CUDA flavour: a failure that says why
    assert check.main(['--flavour', 'cuda', '--device', 'cpu', '--quiet']) == 1
    assert 'a CPU-only build' in capsys.readouterr().err


def test_mmcv_kernel_check_references():
    """The references the op checks compare against: greedy NMS equals torchvision's."""
    import torch
    import torchvision
    check = load_tool('tools/misc/check_mmcv_ops.py')
    g = torch.Generator().manual_seed(3)
    xy = torch.rand(60, 2, generator=g) * 30
    boxes = torch.cat([xy, xy + torch.rand(60, 2, generator=g) * 20 + 1], dim=1)
    scores = torch.rand(60, generator=g)
    for thr in (0.3, 0.5, 0.7):
        assert check._greedy_nms(boxes, scores, thr) == torchvision.ops.nms(boxes, scores,
                                                                            thr).tolist()
    assert check.sm_name('8.6+PTX') == 'sm_86' and check.sm_name('9.0') == 'sm_90'


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
                           osp.join(MISC, 'wheel_pack.py'), *map(str, args)],
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
    proc = subprocess.run(['bash', osp.join(MISC, 'gpu_check.sh'), str(wh), str(out)], cwd=REPO,
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


def test_cuda_build_says_what_it_builds_and_how_to_skip_it(tmp_path):
    """With a GPU visible, the line before mmcv's CUDA build names the architectures, why, and
    the CPU-only way (the build itself fails at once here: its source does not exist)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ('MMSEQ_CUDA', 'TORCH_CUDA_ARCH_LIST', 'CUDA_VISIBLE_DEVICES')}
    env.update(PATH=fake_nvidia_smi(tmp_path, ['9.0']), MMSEQ_MMCV_WHEELS=str(tmp_path / 'wh'),
               MMSEQ_MMCV_SRC=str(tmp_path / 'missing-mmcv.tar.gz'),
               CUDA_HOME=str(tmp_path / 'cuda'))
    proc = subprocess.run(['bash', SETUP, '--mmcv-wheel-only'], cwd=REPO, capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 1 and 'the cuda-9.0 build failed' in proc.stderr
    lines = proc.stdout.splitlines()
    (message, ) = [ln for ln in lines if "building mmcv's CUDA ops" in ln]
    assert 'GPU architecture(s) 9.0 (needed to train and test on the GPU)' in message
    assert "'MMSEQ_CUDA=0 make setup' builds the CPU ops only" in message
    assert "enough for 'make demo' and 'make test' (both run on the CPU)" in message
    assert lines.index(message) < next(i for i, ln in enumerate(lines) if 'wheel from' in ln)
