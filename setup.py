import importlib.util
import os
import re
from pathlib import Path

from setuptools import find_packages, setup

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


setup(
    name='mmseq',
    version=read_version(),
    description='Sequencer2D (deep BiLSTM token mixing) backbones for OpenMMLab',
    long_description=(HERE / 'README.md').read_text() if (HERE / 'README.md').exists() else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmseq', 'mmseq.*']),
    # The C++ source ships too: lstm2d_ext.py compiles it where the prebuilt module is absent
    # or was built for another CPU.
    package_data={'mmseq.models.layers': ['csrc/*.cpp', '_lstm2d_steps.build']},
    python_requires='>=3.9',
    # The backbone needs only torch + mmengine + mmcv.cnn; the tasks add the downstream libraries.
    install_requires=['torch', 'mmengine>=0.10', 'mmcv>=2.0.0,<2.2.0'],
    extras_require={
        'tasks': read_requirements('runtime.txt'),
        'tests': read_requirements('tests.txt'),
    },
    license='Apache License 2.0',
    zip_safe=False,
    **step_loop_extension(),
)
