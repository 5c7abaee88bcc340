"""How mmseq is added to an environment (docs/install.md): ``pip install -e . --no-deps``
requires nothing beyond what is there, the plain install only what the backbone needs (torch,
mmengine, mmcv), and the named extras ``tasks`` / ``tests`` / ``all`` the rest; the
environment of ``make setup`` has every extra already (pip's resolver, offline, would install
mmseq alone)."""
import json
import subprocess
import sys

import pytest

from helpers import REPO

pytestmark = pytest.mark.slow

BACKBONE = ['torch', 'mmengine>=0.10', 'mmcv<2.2.0,>=2.0.0']
TASKS = ('mmpretrain==1.2.0', 'mmsegmentation==1.2.2', 'mmdet==3.3.0', 'timm>=1.0',
         'safetensors', 'huggingface_hub')


def _dry_run(tmp_path, target, *args):
    report = tmp_path / 'report.json'
    proc = subprocess.run([sys.executable, '-m', 'pip', 'install', '--dry-run', '--no-index',
                           '--no-build-isolation', '--disable-pip-version-check', '--report',
                           str(report), *args, '-e', target], cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    return json.loads(report.read_text())['install']


def test_extras_and_the_setup_environment(tmp_path):
    (install, ) = _dry_run(tmp_path, f'{REPO}[all]')
    meta = install['metadata']
    assert meta['name'] == 'mmseq' and install['requested_extras'] == ['all']
    assert sorted(meta['provides_extra']) == ['all', 'tasks', 'tests']
    requires = meta['requires_dist']
    assert [r for r in requires if 'extra ==' not in r] == BACKBONE
    for extra in ('tasks', 'all'):
        for req in TASKS:
            assert f'{req}; extra == "{extra}"' in requires, (req, extra)
    assert 'openmim==0.3.9; extra == "tests"' in requires
    assert meta['license'] == 'Apache License 2.0'


def test_no_deps_adds_mmseq_alone(tmp_path):
    (install, ) = _dry_run(tmp_path, REPO, '--no-deps')
    assert install['metadata']['name'] == 'mmseq' and install['is_direct']
