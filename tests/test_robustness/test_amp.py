"""Mixed precision on CPU: mmseq.AutocastOptimWrapper (bfloat16 autocast), tools/train.py
--amp in the three tasks, and the BiLSTM2D mixers under autocast."""
import glob
import json
import math
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

from helpers import (REPO, TINY_ARCH, make_cls_data, subprocess_env, write_cls_train_config,
                     write_det_train_config, write_seg_train_config)

from mmseq.engine import AutocastOptimWrapper
from mmseq.models import Sequencer2D
from mmseq.models.layers import build_token_mixer
from mmseq.models.layers.bilstm2d import cpu_runs_low_precision_rnn, run_rnn


def test_wrapper_autocasts_forward_only():
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    wrapper = AutocastOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    x = torch.randn(4, 8)
    before = [p.detach().clone() for p in model.parameters()]
    with wrapper.optim_context(model):
        assert torch.is_autocast_enabled('cpu')
        assert torch.get_autocast_dtype('cpu') == torch.bfloat16
        out = model(x)
        assert out.dtype == torch.bfloat16
        loss = out.float().pow(2).mean()
    assert not torch.is_autocast_enabled('cpu')
    wrapper.update_params(loss)
    for p, b in zip(model.parameters(), before):
        assert p.dtype == torch.float32 and p.grad is None  # zeroed after the step
        assert not torch.equal(p, b)
    assert 'loss_scaler' not in wrapper.state_dict()


def test_wrapper_rejects_bad_dtype_and_cuda_fp16():
    params = [nn.Parameter(torch.zeros(1))]
    with pytest.raises(ValueError, match="'bfloat16', 'float16'"):
        AutocastOptimWrapper(dtype='int8', optimizer=torch.optim.SGD(params, lr=1))
    wrapper = AutocastOptimWrapper(dtype='float16', device_type='cuda',
                                   optimizer=torch.optim.SGD(params, lr=1))
    with pytest.raises(ValueError, match='AmpOptimWrapper'):
        with wrapper.optim_context(nn.Linear(1, 1)):
            pass


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmseg', 'mmdet'])
def test_wrapper_builds_from_every_scope(scope):
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    import mmseq.engine  # noqa: F401
    init_default_scope(scope)
    wrapper = build_optim_wrapper(nn.Linear(2, 2), dict(
        type='mmseq.AutocastOptimWrapper', dtype='bfloat16',
        optimizer=dict(type='AdamW', lr=1e-3), clip_grad=dict(max_norm=1.0)))
    assert isinstance(wrapper, AutocastOptimWrapper)
    assert wrapper.cast_dtype == torch.bfloat16


@pytest.mark.parametrize('impl', ['reference', 'fused'])
def test_lstm_mixer_under_bf16_autocast(impl):
    """nn.LSTM is on CPU autocast's lower-precision list: it runs in bfloat16 where the CPU
    can (also on CPUs where autocast's own cast of a float32 input fails in oneDNN), else in
    float32. Outputs and gradients stay finite and close to float32."""
    torch.manual_seed(0)
    mixer = build_token_mixer(impl, 16, 4)
    x = torch.randn(2, 9, 11, 16, requires_grad=True)
    ref = mixer(x)
    ref.square().mean().backward()
    ref_grads = [p.grad.clone() for p in mixer.parameters()] + [x.grad.clone()]
    mixer.zero_grad()
    x.grad = None
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = mixer(x)
        rnn_dtype = torch.bfloat16 if cpu_runs_low_precision_rnn(torch.bfloat16) else torch.float32
        assert run_rnn(mixer.rnn_v, x[:, 0]).dtype == rnn_dtype
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
    out.float().square().mean().backward()
    grads = [p.grad for p in mixer.parameters()] + [x.grad]
    for g, r in zip(grads, ref_grads):
        assert g is not None and g.dtype == torch.float32 and torch.isfinite(g).all()
        assert (g - r).norm() <= 0.05 * r.norm() + 1e-6
    assert (out.float() - ref).abs().max() < 0.05


def test_backbone_train_step_under_autocast_matches_fp32_loosely():
    torch.manual_seed(0)
    model = Sequencer2D(arch=dict(TINY_ARCH), out_indices=(0, 1, 2, 3), drop_path_rate=0.1)
    x = torch.randn(2, 3, 45, 59)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        outs = model(x)
    loss = sum(o.float().mean() for o in outs)
    loss.backward()
    assert all(o.dtype == torch.bfloat16 and torch.isfinite(o).all() for o in outs)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def _scalars(work_dir):
    files = glob.glob(osp.join(str(work_dir), '*', 'vis_data', 'scalars.json'))
    assert files, f'no scalars.json under {work_dir}'
    return [json.loads(line) for line in open(files[0]) if line.strip()]


@pytest.mark.slow
@pytest.mark.parametrize('task', ['cls', 'seg', 'det'])
def test_train_tool_amp_on_cpu(task, tmp_path):
    """tools/train.py --amp without CUDA: the config's OptimWrapper becomes
    mmseq.AutocastOptimWrapper, and two bf16 iterations give finite losses."""
    cfg = str(tmp_path / 'cfg.py')
    if task == 'cls':
        write_cls_train_config(cfg, make_cls_data(str(tmp_path / 'data')), max_epochs=1)
    elif task == 'seg':
        write_seg_train_config(cfg, str(tmp_path / 'data'))
    else:
        write_det_train_config(cfg, str(tmp_path / 'data'))
    work = tmp_path / 'work'
    proc = subprocess.run([sys.executable, osp.join(REPO, 'tools/train.py'), cfg,
                           '--work-dir', str(work), '--amp'],
                          env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    losses = [s['loss'] for s in _scalars(work) if 'loss' in s]
    assert len(losses) >= 2 and all(math.isfinite(v) for v in losses), losses
    from mmseq.utils.checkpoint import load_checkpoint_weights_only
    ckpts = glob.glob(str(work / '*.pth'))
    ckpt = load_checkpoint_weights_only(ckpts[0])
    assert "type='mmseq.AutocastOptimWrapper'" in ckpt['meta']['cfg']
    assert all(v.dtype == torch.float32 for v in ckpt['state_dict'].values()
               if v.is_floating_point())
