"""Stop after k iterations, `tools/train.py --resume`, and end in the same state as an
uninterrupted run (CPU, fixed seed, deterministic algorithms)."""
import sys

import pytest
import torch

from helpers import run, seg_options
from mmseq.utils import load_checkpoint_weights_only
from mmseq.testing import make_ade20k

pytestmark = pytest.mark.slow


def _train(work, max_iters, opts, *extra):
    return run([sys.executable, 'tools/train.py', 'configs/sem_fpn_seq2d_s_ade20k.py',
                '--work-dir', str(work), *extra, '--cfg-options',
                f'train_cfg.max_iters={max_iters}', *opts])


def test_resume_matches_uninterrupted_run(tmp_path):
    make_ade20k(str(tmp_path / 'ade'), n_train=8, n_val=2, size=(56, 70), num_classes=6)
    opts = seg_options(str(tmp_path / 'ade' / 'ADEChallengeData2016')) + [
        # mmengine 0.10.7 does not save torch's RNG state, so a resumed run redraws
        # dropout masks: exact equality needs a model without dropout.
        'model.decode_head.dropout_ratio=0.0',
        'default_hooks.checkpoint.interval=3', 'train_cfg.val_interval=100',
        'randomness.seed=0', 'randomness.deterministic=True',
    ]
    _train(tmp_path / 'full', 6, opts)
    _train(tmp_path / 'split', 3, opts)          # stops after 3 iterations
    out = _train(tmp_path / 'split', 6, opts, '--resume')   # latest checkpoint, to 6
    assert 'resumed epoch: 0, iter: 3' in out

    full = load_checkpoint_weights_only(tmp_path / 'full' / 'iter_6.pth')
    split = load_checkpoint_weights_only(tmp_path / 'split' / 'iter_6.pth')
    half = load_checkpoint_weights_only(tmp_path / 'full' / 'iter_3.pth')
    assert full['meta']['iter'] == split['meta']['iter'] == 6
    assert full['state_dict'].keys() == split['state_dict'].keys()
    changed = 0
    for key, value in full['state_dict'].items():
        assert torch.equal(value, split['state_dict'][key]), key
        changed += not torch.equal(value, half['state_dict'][key])
    assert changed > len(full['state_dict']) // 2  # iterations 4-6 did train
    # optimizer moments and step counts too
    for idx, state in full['optimizer']['state'].items():
        for name, value in state.items():
            assert torch.equal(value, split['optimizer']['state'][idx][name]), (idx, name)
    assert full['param_schedulers'] == split['param_schedulers']
