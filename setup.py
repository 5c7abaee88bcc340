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


setup(
    name='mmseq',
    version=read_version(),
    description='Sequencer2D (deep BiLSTM token mixing) backbones for OpenMMLab',
    long_description=(HERE / 'README.md').read_text() if (HERE / 'README.md').exists() else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmseq', 'mmseq.*']),
    # C++ sources compiled on first use by mmseq/models/layers/lstm2d_ext.py.
    package_data={'mmseq.models.layers': ['csrc/*.cpp']},
    python_requires='>=3.9',
    # The backbone needs only torch + mmengine + mmcv.cnn; the tasks add the downstream libraries.
    install_requires=['torch', 'mmengine>=0.10', 'mmcv>=2.0.0,<2.2.0'],
    extras_require={
        'tasks': read_requirements('runtime.txt'),
        'tests': read_requirements('tests.txt'),
    },
    license='Apache License 2.0',
    zip_safe=False,
)
