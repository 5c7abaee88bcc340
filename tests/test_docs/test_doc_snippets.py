"""Every ```python block of README.md and docs/*.md runs, unless the line before it says
``<!-- test: skip (reason) -->``: new snippets are tested by default.

Each block runs alone in a fresh interpreter (this one), on the CPU, with the network off
(offline_run.py; ``HF_HUB_OFFLINE=1``), in a scratch folder that links the checkout's
top-level files and folders (so ``configs/...`` and ``demo/...`` resolve and what a snippet
writes stays out of the checkout). The public weights a snippet names
(``sequencer2d-s_3rdparty_in1k``, ``timm://sequencer2d_s.in1k``, ...) are in an offline
Hugging Face cache written by the test from randomly initialised timm models, as the
model-index tests do. A traceback's line numbers are the markdown file's.
"""
import os
import os.path as osp
import re
import subprocess
import sys

import pytest

from helpers import write_hub_cache
from markdown_docs import PYTHON_LANGS, REPO, blocks, doc_files

pytestmark = pytest.mark.slow

SNIPPETS = [b for f in doc_files() for b in blocks(f) if b.lang in PYTHON_LANGS]
RUNNER = osp.join(osp.dirname(osp.abspath(__file__)), 'offline_run.py')
WEIGHTS = re.compile(r'sequencer2d[-_]([sml])(?![a-z0-9])')


@pytest.fixture(scope='session')
def hf_home(tmp_path_factory):
    return str(tmp_path_factory.mktemp('hf_home'))


def provide_weights(hf_home, code):
    """The hub cache entries of the public weights named in ``code`` (random timm weights
    of the right architecture, written once per session)."""
    for arch in sorted(set(WEIGHTS.findall(code))):
        name = f'sequencer2d_{arch}.in1k'
        if osp.isdir(osp.join(hf_home, 'hub', f'models--timm--{name}')):
            continue
        import timm
        import torch
        torch.manual_seed(0)
        model = timm.create_model(f'sequencer2d_{arch}', pretrained=False)
        write_hub_cache(hf_home, name, model.state_dict())


def scratch_folder(path):
    """A folder whose entries link the checkout's top-level entries (but .git and outputs)."""
    os.makedirs(path)
    for name in os.listdir(REPO):
        if name not in ('.git', 'work_dirs', '.venv', '.pytest_cache'):
            os.symlink(osp.join(REPO, name), osp.join(path, name))
    return path


@pytest.mark.parametrize('block', SNIPPETS, ids=[b.where for b in SNIPPETS])
def test_python_snippet_runs(block, hf_home, tmp_path):
    if block.skip_reason:
        pytest.skip(f'{block.where}: {block.skip_reason}')
    code = '\n'.join(block.lines)
    provide_weights(hf_home, code)
    # blank lines first, so that the traceback's line numbers are the markdown file's
    script = tmp_path / (osp.basename(block.file) + '.py')
    script.write_text('\n' * (block.first_line - 1) + code + '\n')
    cwd = scratch_folder(str(tmp_path / 'cwd'))
    env = dict(os.environ, HF_HOME=hf_home, HF_HUB_OFFLINE='1', TRANSFORMERS_OFFLINE='1',
               CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='2', MPLBACKEND='Agg',
               PYTHONWARNINGS='ignore')
    env.pop('PYTHONPATH', None)
    proc = subprocess.run([sys.executable, RUNNER, str(script)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)
    output = (proc.stdout + proc.stderr)[-6000:]
    if proc.returncode != 0:
        pytest.fail(
            f'{block.where}: the ```python block (lines {block.first_line}-'
            f'{block.first_line + len(block.lines) - 1}) failed with exit code {proc.returncode}.\n'
            f'Mark it <!-- test: skip (reason) --> only if it cannot run on a CPU machine without '
            f'data.\n--- code\n{code}\n--- output (end)\n{output}', pytrace=False)
