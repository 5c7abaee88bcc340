"""tools/setup_env.sh's mmcv flavour and stamp logic, the C++20 compiler wrappers, the mmcv
kernel check (tools/misc/check_mmcv_ops.py) and what setup says before a CUDA build."""
import os
import os.path as osp
import shutil
import subprocess

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
    assert proc.returncode == 2 and 'MMSEQ_CUDA must be 0, 1 or installed' in proc.stderr


def test_demo_keeps_the_installed_flavour_or_takes_the_cpu_one(tmp_path):
    """`make demo` (MMSEQ_CUDA=installed) runs on the CPU: on a GPU machine it neither starts a
    CUDA build for a new venv nor replaces the CUDA build of a complete one."""
    path = fake_nvidia_smi(tmp_path, ['9.0'])
    venv = tmp_path / 'venv'
    venv.mkdir()
    assert flavour(tmp_path, PATH=path, MMSEQ_VENV=str(venv))['flavour'] == 'cuda-9.0'
    demo = dict(PATH=path, MMSEQ_VENV=str(venv), MMSEQ_CUDA='installed')
    assert flavour(tmp_path, **demo)['flavour'] == 'cpu'  # a new venv
    (venv / '.mmseq-flavour').write_text('cuda-8.0_9.0\n')
    assert flavour(tmp_path, **demo)['flavour'] == 'cpu'  # not complete
    (venv / '.mmseq-complete').write_text('x\n')
    complete = flavour(tmp_path, **demo)
    assert complete['flavour'] == 'cuda-8.0_9.0' and complete['arch'] == '8.0 9.0'
    (venv / '.mmseq-flavour').write_text('cpu\n')
    assert flavour(tmp_path, **demo)['flavour'] == 'cpu'


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
