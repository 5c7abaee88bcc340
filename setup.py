import importlib.util
import os
import re
import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).parent


def read_version():
    text = (HERE / 'mmseq' / 'version.py').read_text()
    return re.search(r"__version__ = '([^']+)'", text).group(1)


def read_requirements(name):
    lines = (HERE / 'requirements' / name).read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith('#')]


def _lstm2d_build_settings():
    """mmseq/models/layers/lstm2d_ext.py (standard library only) read without importing mmseq."""
    path = HERE / 'mmseq' / 'models' / 'layers' / 'lstm2d_ext.py'
    spec = importlib.util.spec_from_file_location('_mmseq_lstm2d_ext', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def step_loop_extension():
    """The fused BiLSTM2D's C++ step loops as a module of the package, compiled for this
    machine's CPU, with the record that lstm2d_ext.load() checks before importing it. Without
    torch at build time (or with MMSEQ_LSTM2D_EXT=0) nothing is built: the loops are then
    compiled on first use instead."""
    if os.environ.get('MMSEQ_LSTM2D_EXT', '1') == '0':
        return {}
    try:
        from torch.utils.cpp_extension import BuildExtension, CppExtension
    except ImportError:
        return {}
    settings = _lstm2d_build_settings()

    class BuildWithRecord(BuildExtension):

        def run(self):
            super().run()
            for ext in self.extensions:
                record = Path(self.get_ext_fullpath(ext.name)).parent / '_lstm2d_steps.build'
                record.write_text(settings.build_info())

    ext = CppExtension(settings.PREBUILT_MODULE,
                       [os.path.relpath(settings.SOURCE, HERE)],
                       extra_compile_args=settings.CFLAGS, extra_link_args=settings.LDFLAGS)
    return dict(ext_modules=[ext], cmdclass={'build_ext': BuildWithRecord})


# What an OpenMMLab package carries under <package>/.mim/: `mim train/test mmseq` run its
# tools, mmpretrain's ModelHub reads its model index (mmseq/models/model_index.py).
MIM_FILES = ('configs', 'tools', 'model-index.yml')


class BuildPyWithMim(build_py):
    """A wheel (``pip install .``) gets copies of MIM_FILES in mmseq/.mim/; an editable
    install (``pip install -e .``) gets links to the checkout's own (mmseq/.mim/ in the
    checkout, ignored by git), so edits to the configs are seen at once."""

    def run(self):
        super().run()
        if self.editable_mode:
            link_mim_files(HERE / 'mmseq' / '.mim')
        else:
            copy_mim_files(Path(self.build_lib) / 'mmseq' / '.mim')


def _clear(path: Path):
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def link_mim_files(mim: Path):
    mim.mkdir(exist_ok=True)
    for name in MIM_FILES:
        _clear(mim / name)
        try:
            (mim / name).symlink_to(os.path.relpath((HERE / name).resolve(), mim.resolve()))
        except OSError:  # no symlinks (Windows without the privilege): copies instead
            _copy(HERE / name, mim / name)


def copy_mim_files(mim: Path):
    mim.mkdir(parents=True, exist_ok=True)
    for name in MIM_FILES:
        _clear(mim / name)
        _copy(HERE / name, mim / name)


def _copy(src: Path, dst: Path):
    if src.is_dir():
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
    else:
        shutil.copy2(src, dst)


def _extras():
    """``pip install mmseq`` brings what the backbone needs (torch, mmengine, mmcv.cnn), so that
    mmseq can be added to an OpenMMLab environment without changing it (``--no-deps`` adds
    nothing at all). The extras (docs/install.md):

    - ``tasks``: what the configs and the tools use: mmpretrain, mmsegmentation and mmdet at
      the versions the configs are tested with, timm, safetensors and huggingface_hub for the
      ``timm://`` weights (requirements/runtime.txt);
    - ``tests``: the test suite's tools (requirements/tests.txt);
    - ``all``: both.
    """
    tasks = read_requirements('runtime.txt')
    if not any(re.match(r'huggingface[-_]hub\b', r) for r in tasks):
        tasks.append('huggingface_hub')  # mmseq.utils.timm_weights imports it (timm needs it too)
    tests = read_requirements('tests.txt')
    return dict(tasks=tasks, tests=tests, all=tasks + tests)


EXTRAS = _extras()
extension = step_loop_extension()
cmdclass = dict(extension.pop('cmdclass', {}), build_py=BuildPyWithMim)

setup(
    name='mmseq',
    version=read_version(),
    description='Sequencer2D (deep BiLSTM token mixing) backbones for OpenMMLab',
    long_description=(HERE / 'README.md').read_text() if (HERE / 'README.md').exists() else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmseq', 'mmseq.*']),
    # The C++ source ships too: lstm2d_ext.py compiles it where the prebuilt module is absent
    # or was built for another CPU.
    package_data={'mmseq.models.layers': ['csrc/*.cpp', '_lstm2d_steps.build'],
                  'mmseq.analysis': ['data/*.txt']},  # the ImageNet wnid order (robustness)
    python_requires='>=3.9',
    install_requires=['torch', 'mmengine>=0.10', 'mmcv>=2.0.0,<2.2.0'],
    extras_require=EXTRAS,
    license='Apache License 2.0',
    license_files=['LICENSE'],
    zip_safe=False,
    # Start a config in your own folder from a shipped one (mmseq/cli.py).
    entry_points={'console_scripts': ['mmseq-config = mmseq.cli:main']},
    cmdclass=cmdclass,
    **extension,
)
