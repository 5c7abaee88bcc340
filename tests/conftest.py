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


@pytest.fixture
def repo_root():
    return REPO


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` (tests/test_cuda) are skipped where CUDA is not available, so the
    CPU suite runs unchanged."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason='CUDA not available')
    for item in items:
        if item.get_closest_marker('cuda') is not None:
            item.add_marker(skip)
