"""Checkpoints given as http(s):// URLs, as every OpenMMLab tool takes them: ``init_model`` and
``tools/demo.py`` (on demo/demo.jpg) download the file once into torch hub's cache
($TORCH_HOME, a temporary folder here) and load it weights only. The server is
``http.server`` on 127.0.0.1."""
import os.path as osp
import sys

import pytest
import torch

from helpers import REPO, config_file, run, serve_folder, url_env
from mmseq.apis import init_model
from mmseq.utils import download_checkpoint, load_checkpoint_weights_only

CONFIG = config_file('tiny_sem_fpn_ade20k.py')


@pytest.fixture
def served(tmp_path, monkeypatch):
    """(server, model, checkpoint name): a random-init tiny Semantic FPN's checkpoint, with
    this process's torch hub cache in tmp_path/torch_home."""
    for key, value in url_env(tmp_path / 'torch_home').items():
        monkeypatch.setenv(key, value)
    folder = tmp_path / 'served'
    folder.mkdir()
    torch.manual_seed(0)
    model = init_model(CONFIG)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, folder / 'tiny_sem_fpn.pth')
    (folder / 'evil.pth').write_bytes(b'not a checkpoint')
    with serve_folder(str(folder)) as server:
        yield server, model, 'tiny_sem_fpn.pth'


def test_init_model_from_url_is_cached(served, tmp_path):
    server, model, name = served
    loaded = init_model(CONFIG, server.url(name))
    expected = model.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in loaded.state_dict().items())
    cached = tmp_path / 'torch_home' / 'hub' / 'checkpoints' / name
    assert cached.is_file() and server.requests == [f'/{name}']
    # a second load reads the cache: no new request
    assert download_checkpoint(server.url(name)) == str(cached)
    init_model(CONFIG, server.url(name))
    assert server.requests == [f'/{name}']


def test_url_errors(served):
    server, _, _ = served
    with pytest.raises(OSError, match=r'cannot download checkpoint http://127\.0\.0\.1.*404'):
        init_model(CONFIG, server.url('missing.pth'))
    with pytest.raises(ValueError, match='names no file'):
        download_checkpoint(server.url(''))
    # the downloaded file is read like a local one: weights only, with the same errors
    with pytest.raises(Exception, match='(?i)pickle|weights_only|invalid load key'):
        load_checkpoint_weights_only(server.url('evil.pth'))


def test_demo_tool_with_url(served, tmp_path):
    """tools/demo.py on the repository's demo image (demo/README.md), the checkpoint by URL."""
    server, _, name = served
    image = osp.join(REPO, 'demo', 'demo.jpg')
    assert osp.getsize(image) < 200 * 1024
    out = str(tmp_path / 'vis.png')
    log = run([sys.executable, 'tools/demo.py', image, CONFIG, server.url(name), '--out', out],
              **url_env(tmp_path / 'torch_home'))
    assert osp.isfile(out) and 'classes predicted' in log
    assert server.requests == [f'/{name}']
