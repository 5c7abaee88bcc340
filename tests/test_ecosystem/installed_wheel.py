"""A wheel of this checkout (its files as a clean clone has them, with uncommitted edits),
installed into a folder of its own, and ``python`` run with that folder first on the path: the
mmseq of a user who installed the package, not the checkout."""
import os
import os.path as osp
import shutil
import subprocess
import sys

from helpers import REPO


def _pip(*args, cwd, env=None):
    proc = subprocess.run([sys.executable, '-m', 'pip', *args, '--disable-pip-version-check',
                           '--no-index', '--no-deps'], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, f'pip {args[0]} failed:\n{proc.stdout[-3000:]}{proc.stderr}'


def _checkout_copy(dst):
    """This checkout's files as a clean clone would have them, with the uncommitted edits:
    git's tracked and untracked-but-not-ignored files (no build outputs, no mmseq/.mim)."""
    files = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others',
                            '--exclude-standard'], cwd=REPO, capture_output=True,
                           check=True).stdout.decode().split('\0')
    for rel in filter(None, files):
        src = osp.join(REPO, rel)
        if osp.isfile(src):  # not a deleted file
            os.makedirs(osp.dirname(osp.join(dst, rel)), exist_ok=True)
            shutil.copy2(src, osp.join(dst, rel))
    return dst


def build_and_install(root):
    """Build a wheel of this checkout in ``root`` and install it into a folder of its own;
    return (wheel, that folder, a generated ImageNet root)."""
    src = _checkout_copy(str(root / 'src'))
    _pip('wheel', '--no-build-isolation', '-w', str(root / 'dist'), src, cwd=str(root),
         env=dict(os.environ, MMSEQ_LSTM2D_EXT='0'))  # no C++ build: nn.LSTM in the mixers
    (wheel, ) = [str(p) for p in (root / 'dist').glob('mmseq-*.whl')]
    _pip('install', '--target', str(root / 'site'), wheel, cwd=str(root))
    from mmseq.testing import make_imagenet
    make_imagenet(str(root / 'imagenet'), num_classes=4, per_class=2, size=64, val_per_class=1)
    return wheel, str(root / 'site'), str(root / 'imagenet')


def run_installed(args, site, cwd, **env):
    """``python ARGS`` with the installed wheel first on the path (not the checkout)."""
    env = dict(os.environ, PYTHONPATH=site, MMSEQ_LSTM2D_EXT='0', OMP_NUM_THREADS='1',
               PYTHONWARNINGS='ignore', **env)
    for var in ('HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE'):  # would win over HF_HOME
        env.pop(var, None)
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{" ".join(args[:3])} ... failed:\n{output[-5000:]}'
    return output
