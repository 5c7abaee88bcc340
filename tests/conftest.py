import contextlib
import functools
import os

import mmengine.config.utils as config_utils
import pytest
import torch

from helpers import REPO

# A config whose _base_ is 'mmseg::...' (or mmdet's, mmpretrain's) makes mmengine read every
# metafile of that library to look the name up, each time; the suite parses such configs
# hundreds of times in this process. The files do not change during a run: read each once.
config_utils.load = functools.lru_cache(maxsize=None)(config_utils.load)

# At most two threads per test process, and the cores shared among pytest-xdist's workers:
# more threads than cores makes torch's kernels wait on each other.
_workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
torch.set_num_threads(max(1, min(2, (os.cpu_count() or 1) // _workers)))


@contextlib.contextmanager
def _restored_default_scope():
    from mmengine.registry import DefaultScope
    saved = DefaultScope._instance_dict.copy()
    try:
        yield
    finally:
        DefaultScope._instance_dict.clear()
        DefaultScope._instance_dict.update(saved)


@pytest.fixture(autouse=True)
def _isolated_default_scope():
    """mmengine's default scope is process-wide, and a worker runs many files one after the
    other: without this, a test that leaves 'mmdet' current decides where the next test's
    ``TRANSFORMS.build`` looks (mmpretrain's Inferencer builds its pipeline that way)."""
    with _restored_default_scope():
        yield


@pytest.fixture(autouse=True, scope='module')
def _isolated_default_scope_per_file():
    """The same around each file: a module-scoped fixture that sets a scope is set up before
    the per-test save, so only this undoes it when the file ends."""
    with _restored_default_scope():
        yield


@pytest.fixture
def repo_root():
    return REPO


# The longest files, longest first. With ``make test`` (``--no-loadscope-reorder``) workers take
# files in collection order, so starting with these keeps one of them from being the last
# file left running on one worker while the others sit idle.
LONGEST_FILES = (
    'test_datasets/test_hela.py',
    'test_models/test_compile.py',
    'test_tools/test_dist_train_test.py',
    'test_tools/test_dist_upernet_mask_rcnn.py',
    'test_ecosystem/test_user_project.py',
)


def _file_rank(item) -> int:
    path = item.path.as_posix()
    ranks = [i for i, name in enumerate(LONGEST_FILES) if path.endswith(name)]
    if ranks:
        return ranks[0]
    return len(LONGEST_FILES) + (1 if item.get_closest_marker('slow') is None else 0)


def pytest_collection_modifyitems(config, items):
    """The longest files first, then files with ``slow`` tests, then the rest (the order is
    stable within each group, and the same in every xdist worker). Tests marked ``cuda``
    (tests/test_cuda) are skipped where CUDA is not available, so the CPU suite runs
    unchanged."""
    file_rank = {}
    for item in items:
        rank = _file_rank(item)
        file_rank[item.path] = min(rank, file_rank.get(item.path, rank))
    items.sort(key=lambda item: file_rank[item.path])
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason='CUDA not available')
    for item in items:
        if item.get_closest_marker('cuda') is not None:
            item.add_marker(skip)
