import copy

import pytest
import torch
import torch.nn as nn

from helpers import TINY_ARCH
from mmseq.models.backbones import Sequencer2D
from mmseq.models.layers import BiLSTM2D, DropPath

# Two blocks in stage 2: a stage with more than one block, and five for the drop-path ramp.
# (Rejected arguments and inputs: tests/test_robustness/test_bad_inputs.py.)
TINY = dict(TINY_ARCH, layers=[1, 1, 2, 1])


def tiny(**kwargs):
    model = Sequencer2D(arch=copy.deepcopy(TINY), **kwargs)
    model.init_weights()
    return model


# ----------------------------------------------------------------------------- arch
def test_unknown_arch_lists_valid_names():
    with pytest.raises(ValueError, match=r"Unknown arch 'xl'.*\['l', 'large', 'm', 'medium'"):
        Sequencer2D(arch='xl')


@pytest.mark.parametrize('short,long', [('s', 'small'), ('m', 'medium'), ('l', 'large')])
def test_arch_aliases(short, long):
    assert Sequencer2D(arch=short).arch == Sequencer2D(arch=long.upper()).arch


def test_zoo_matches_paper_table4():
    layers = {a: Sequencer2D.arch_zoo[a]['layers'] for a in 'sml'}
    assert layers == {'s': [4, 3, 8, 3], 'm': [4, 3, 14, 3], 'l': [8, 8, 16, 4]}
    for a in 'sml':
        cfg = Sequencer2D.arch_zoo[a]
        assert cfg['embed_dims'] == [192, 384, 384, 384]
        # D = C / 4 and an MLP expansion of 3 everywhere.
        assert [d // 4 for d in cfg['embed_dims']] == cfg['hidden_sizes']
        assert cfg['mlp_ratios'] == [3.0] * 4


# ----------------------------------------------------------------------------- outputs
@pytest.mark.parametrize('out_indices,expected', [
    (-1, (3, )), (0, (0, )), ((0, 1, 2, 3), (0, 1, 2, 3)), ((-4, -1), (0, 3)), ([2, 0], (0, 2))])
def test_out_indices(out_indices, expected):
    model = tiny(out_indices=out_indices)
    assert model.out_indices == expected
    outs = model(torch.randn(2, 3, 56, 84))
    assert isinstance(outs, tuple) and len(outs) == len(expected)
    sizes = {0: (8, 12), 1: (4, 6), 2: (4, 6), 3: (4, 6)}
    for out, i in zip(outs, expected):
        assert out.shape == (2, TINY['embed_dims'][i], *sizes[i])
    # Only requested outputs get a norm.
    assert {n for n, _ in model.named_children() if n.startswith('norm')} == \
        {f'norm{i}' for i in expected}


def test_full_size_strides_and_channels():
    model = Sequencer2D('s', out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 224, 224))
    assert [tuple(o.shape[1:]) for o in outs] == [(192, 32, 32), (384, 16, 16), (384, 16, 16),
                                                  (384, 16, 16)]


def test_outputs_are_contiguous_nchw_for_mmcv_ops():
    """mmcv's RoIAlign (Mask R-CNN's RoI extractor) reads its input as contiguous NCHW memory;
    the pyramid, and the FPN convs that keep their input's layout, must give it that: its
    features equal bilinear sampling of the maps (grid_sample)."""
    from mmcv.ops import RoIAlign
    from mmdet.models.necks import FPN
    model = tiny(out_indices=(0, 1, 2, 3)).eval()
    fpn = FPN(in_channels=[16, 32, 32, 32], out_channels=8, num_outs=4).eval()
    rois = torch.tensor([[0, 3.0, 5.0, 40.0, 30.0], [0, 10.0, 2.0, 20.0, 50.0]])
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 70, 84))
        levels = fpn(outs)
    assert all(o.is_contiguous() for o in outs + levels)
    for level, stride in zip(levels, (7, 14)):
        align = RoIAlign((7, 7), spatial_scale=1 / stride, sampling_ratio=2, aligned=True)
        assert torch.allclose(align(level, rois), _roi_align(level, rois, 1 / stride),
                              rtol=1e-4, atol=1e-4)


def _roi_align(level, rois, scale, out=7, samples=2):
    """RoIAlign (aligned, ``samples`` x ``samples`` points per bin) as bilinear sampling."""
    import torch.nn.functional as F
    h, w = level.shape[-2:]
    pooled = []
    for _, x1, y1, x2, y2 in rois.tolist():
        x1, y1, x2, y2 = (v * scale - 0.5 for v in (x1, y1, x2, y2))
        steps = (torch.arange(out * samples) + 0.5) / (out * samples)
        xs, ys = x1 + steps * (x2 - x1), y1 + steps * (y2 - y1)
        gy, gx = torch.meshgrid((ys + 0.5) / h * 2 - 1, (xs + 0.5) / w * 2 - 1, indexing='ij')
        points = F.grid_sample(level, torch.stack([gx, gy], -1)[None], align_corners=False,
                               padding_mode='border')  # RoIAlign clamps to the map
        pooled.append(F.avg_pool2d(points, samples)[0])
    return torch.stack(pooled)


@pytest.mark.parametrize('hw', [(97, 131), (14, 14), (15, 29), (7, 7)])
def test_odd_input_sizes_are_padded_not_cropped(hw):
    model = tiny(out_indices=(0, 3)).eval()
    x = torch.randn(2, 3, *hw)
    padded = torch.zeros(2, 3, -(-hw[0] // 14) * 14, -(-hw[1] // 14) * 14)
    padded[:, :, :hw[0], :hw[1]] = x
    with torch.no_grad():
        outs, ref = model(x), model(padded)
    assert outs[0].shape[2:] == (padded.shape[2] // 7, padded.shape[3] // 7)
    for a, b in zip(outs, ref):
        torch.testing.assert_close(a, b)


# ----------------------------------------------------------------------------- ablations
@pytest.mark.parametrize('kwargs,has_v,has_h', [
    (dict(), True, True),
    (dict(rnn_type='gru'), True, True),
    (dict(rnn_type='rnn'), True, True),
    (dict(bidirectional=False), True, True),
    (dict(union='add'), True, True),
    (dict(union='vertical'), True, False),
    (dict(union='horizontal'), False, True),
    (dict(with_fc=False), True, True),
    (dict(union='vertical', with_fc=False, hidden_ratio=2), True, False),
    (dict(bidirectional=False, with_fc=False, hidden_ratio=2), True, True),
    (dict(hidden_ratio=2), True, True),
])
def test_ablations_shapes_and_modules(kwargs, has_v, has_h):
    model = tiny(out_indices=(0, 1, 2, 3), **kwargs)
    mixer = model.stages[1].blocks[0].token_mixer
    rnn_cls = {'lstm': nn.LSTM, 'gru': nn.GRU, 'rnn': nn.RNN}[kwargs.get('rnn_type', 'lstm')]
    assert (mixer.rnn_v is not None) == has_v and (mixer.rnn_h is not None) == has_h
    rnn = mixer.rnn_v if has_v else mixer.rnn_h
    assert type(rnn) is rnn_cls
    assert rnn.bidirectional == kwargs.get('bidirectional', True)
    assert rnn.hidden_size == int(8 * kwargs.get('hidden_ratio', 1))
    assert (mixer.fc is not None) == kwargs.get('with_fc', True)
    outs = model(torch.randn(1, 3, 28, 42))
    assert [tuple(o.shape) for o in outs] == [(1, 16, 4, 6), (1, 32, 2, 3), (1, 32, 2, 3),
                                              (1, 32, 2, 3)]
    outs[-1].sum().backward()


def test_union_add_sums_directions():
    mixer = BiLSTM2D(8, 4, union='add', with_fc=False)
    x = torch.randn(2, 3, 5, 8)
    v = mixer.rnn_v(x.transpose(1, 2).reshape(10, 3, 8))[0].reshape(2, 5, 3, 8).transpose(1, 2)
    h = mixer.rnn_h(x.reshape(6, 5, 8))[0].reshape(2, 3, 5, 8)
    torch.testing.assert_close(mixer(x), v + h)


def test_mixer_scans_columns_vertically_and_rows_horizontally():
    # Without the fusion layer, a change at (r, c) reaches only row r and column c.
    mixer = BiLSTM2D(8, 2, with_fc=False).eval()
    x = torch.randn(1, 5, 6, 8)
    y = x.clone()
    y[0, 2, 3] += 1.0
    changed = (mixer(x) - mixer(y)).abs().sum(-1)[0] > 0
    expected = torch.zeros(5, 6, dtype=torch.bool)
    expected[2, :] = True
    expected[:, 3] = True
    assert torch.equal(changed, expected)


# ----------------------------------------------------------------------------- training options
def test_drop_path_linear_ramp_over_all_blocks():
    model = tiny(drop_path_rate=0.3)
    blocks = [b for stage in model.stages for b in stage.blocks]
    rates = [b.drop_path.drop_prob if isinstance(b.drop_path, DropPath) else 0.
             for b in blocks]
    expected = torch.linspace(0, 0.3, len(blocks)).tolist()
    assert rates == pytest.approx(expected)
    assert isinstance(blocks[0].drop_path, nn.Identity)


def test_drop_path_is_identity_in_eval_and_random_in_train():
    model = tiny(drop_path_rate=0.5)
    x = torch.randn(4, 3, 28, 28)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x)[0], model(x)[0])
    model.train()
    torch.manual_seed(0)
    a = model(x)[0]
    torch.manual_seed(1)
    assert not torch.allclose(a, model(x)[0])


@pytest.mark.parametrize('frozen', [-1, 0, 1, 2, 4])
def test_frozen_stages(frozen):
    model = tiny(frozen_stages=frozen, out_indices=(0, 1, 2, 3))
    model.train()
    frozen_modules = [] if frozen < 0 else [model.stem] + [model.stages[i] for i in range(frozen)] \
        + [getattr(model, f'norm{i}') for i in range(frozen)]
    frozen_ids = {id(p) for m in frozen_modules for p in m.parameters()}
    for m in frozen_modules:
        assert not m.training
    for p in model.parameters():
        assert p.requires_grad == (id(p) not in frozen_ids)
    for i in range(max(frozen, 0), 4):
        assert model.stages[i].training
    # Frozen parts get no gradient; the rest does.
    outs = model(torch.randn(1, 3, 28, 28))
    if frozen == 4:
        assert not any(o.requires_grad for o in outs)
        return
    sum(o.sum() for o in outs).backward()
    for p in model.parameters():
        assert (p.grad is None) == (id(p) in frozen_ids)


def test_norm_eval():
    model = tiny(norm_eval=True, out_indices=(0, 3))
    model.train()
    norms = [m for m in model.modules() if isinstance(m, nn.LayerNorm)]
    assert norms and all(not m.training for m in norms)
    assert model.stages[0].blocks[0].mlp.training
    model = tiny(norm_eval=False)
    model.train()
    assert all(m.training for m in model.modules() if isinstance(m, nn.LayerNorm))


def test_with_cp_same_outputs_and_gradients():
    torch.manual_seed(0)
    ref = tiny(out_indices=(0, 1, 2, 3))
    cp = tiny(out_indices=(0, 1, 2, 3), with_cp=True)
    cp.load_state_dict(ref.state_dict())
    x = torch.randn(2, 3, 42, 56)
    xs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
    outs = [m(xi) for m, xi in zip((ref, cp), xs)]
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b)
    for o in outs:
        sum(t.square().sum() for t in o).backward()
    torch.testing.assert_close(xs[0].grad, xs[1].grad)
    for (name, p), q in zip(ref.named_parameters(), cp.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=name)


# ----------------------------------------------------------------------------- init
def test_default_init_follows_reference():
    model = tiny()
    block = model.stages[0].blocks[0]
    assert torch.all(block.norm1.weight == 1) and torch.all(block.norm1.bias == 0)
    assert torch.all(block.token_mixer.fc.bias == 0)
    assert 0 < block.mlp.fc1.bias.abs().max() < 1e-4  # N(0, 1e-6) like the reference
    bound = 1 / block.token_mixer.rnn_v.hidden_size ** 0.5
    assert block.token_mixer.rnn_v.weight_ih_l0.abs().max() <= bound


def test_pretrained_init_with_prefix(tmp_path):
    src = tiny(out_indices=(0, 3))
    ckpt = {'state_dict': {f'backbone.{k}': v for k, v in src.state_dict().items()}}
    ckpt['state_dict']['head.fc.weight'] = torch.zeros(10, 32)
    path = tmp_path / 'cls.pth'
    torch.save(ckpt, path)
    model = Sequencer2D(arch=copy.deepcopy(TINY), out_indices=(0, 3), init_cfg=dict(
        type='Pretrained', checkpoint=str(path), prefix='backbone.'))
    model.init_weights()
    for (k, a), b in zip(src.state_dict().items(), model.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)


# ----------------------------------------------------------------------------- inference
@pytest.mark.parametrize('hooked', ['stages.0.blocks.0.mlp.fc2', 'stages.0.blocks.0.mlp.fc1',
                                    'stages.0.blocks.0.token_mixer.fc'])
def test_inference_never_overwrites_what_forward_hooks_saw(hooked):
    """No inference path updates a tensor in place that a forward hook has seen."""
    torch.manual_seed(0)
    model = Sequencer2D(TINY).eval()
    x = torch.randn(1, 3, 56, 56)
    with torch.no_grad():
        expected = model(x)[-1]
    seen = []
    handle = model.get_submodule(hooked).register_forward_hook(
        lambda module, args, out: seen.append((out, out.clone())))
    with torch.no_grad():
        out = model(x)[-1]
    handle.remove()
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    kept, snapshot = seen[0]
    torch.testing.assert_close(kept, snapshot, rtol=0, atol=0)
