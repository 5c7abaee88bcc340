import pytest
import torch

from mmseq.models.backbones import VanillaSequencer


def count(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize('arch,params_m', [('s', 33), ('s-h', 28), ('s-pe', 33)])
def test_param_counts_match_table_2c(arch, params_m):
    model = VanillaSequencer(arch)
    head = 384 * 1000 + 1000
    assert round((count(model) + head) / 1e6) == params_m


def test_token_mixer_is_one_bilstm_over_raster_order():
    model = VanillaSequencer('s', out_indices=(0, 1, 2, 3)).eval()
    mixer = model.stages[0].blocks[0].token_mixer
    assert mixer.rnn.bidirectional and mixer.rnn.hidden_size == 192 and mixer.fc is None
    # A change in the last token reaches every earlier token (backward direction) —
    # unlike BiLSTM2D, which only mixes along a row and a column.
    x = torch.randn(1, 3, 4, 384)
    y = x.clone()
    y[0, 2, 3] += 1
    with torch.no_grad():
        changed = (mixer(x) - mixer(y)).abs().sum(-1)[0] > 0
    assert changed.all()


@pytest.mark.parametrize('arch,sizes', [
    ('s', [(16, 16)] * 4),
    ('s-h', [(32, 32), (16, 16), (16, 16), (16, 16)]),
])
def test_outputs(arch, sizes):
    model = VanillaSequencer(arch, out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 224, 224))
    assert [tuple(o.shape[2:]) for o in outs] == sizes


def test_pos_embed_interpolates_and_is_frozen_with_stem():
    model = VanillaSequencer(dict(layers=[1, 1], patch_sizes=[14, 1], embed_dims=[16, 16],
                                  hidden_sizes=[8, 8], mlp_ratios=[2, 2], pos_embed=True),
                             pos_embed_size=4, frozen_stages=0)
    model.init_weights()
    assert model.pos_embed.shape == (1, 4, 4, 16) and model.pos_embed.abs().sum() > 0
    assert not model.pos_embed.requires_grad and not model.stem.weight.requires_grad
    out = model(torch.randn(2, 3, 98, 70))[0]
    assert out.shape == (2, 16, 7, 5)


def test_unknown_arch():
    with pytest.raises(ValueError, match="valid names are .*'s-pe'"):
        VanillaSequencer('m')
