"""tools/analysis/get_flops.py on what a config builds: a segmentor, a detector and a
classifier, split into backbone / neck / head / total. The counts of two real dense configs
at small inputs are pinned (their parameters are those of the full models)."""
import pytest

from helpers import REPO, config_file, load_tool

get_flops = load_tool('tools/analysis/get_flops.py')

# config: --shape, the input after padding, params per top-level module, total FLOPs (MACs).
# The params are the full models' (31.62M and 37.27M, the paper's Table 3 / 11 values).
PINNED = {
    'sem_fpn_seq2d_s_ade20k.py': dict(
        shape=[112, 112], input=[112, 112],
        params=dict(backbone=27_268_608, neck=2_705_408, decode_head=1_643_158),
        flops=2_560_860_160),
    'retinanet_seq2d_s_coco.py': dict(
        shape=[160, 200], input=[168, 224],
        params=dict(backbone=27_268_224, neck=3_540_992, bbox_head=6_463_220),
        flops=10_851_569_664),
}


@pytest.mark.parametrize('config', sorted(PINNED))
def test_dense_config_counts_are_pinned(config, capsys):
    pinned = PINNED[config]
    shape = pinned['shape']
    results = get_flops.main([f'{REPO}/configs/{config}', '--shape', *map(str, shape)])
    costs = results[0]
    assert costs['input'] == pinned['input']
    modules = [p for p in costs['parts'] if p['part'] != 'other']
    assert {p['name']: p['params'] for p in modules} == pinned['params']
    assert costs['params'] == sum(pinned['params'].values())
    assert costs['flops'] == pinned['flops']
    # the parts add up, and each ran
    assert sum(p['flops'] for p in costs['parts']) == costs['flops']
    assert sum(p['params'] for p in costs['parts']) == costs['params']
    assert all(p['ran'] and p['flops'] > 0 for p in costs['parts'])
    # what runs outside the modules (the segmentor's final resize) is small
    assert sum(p['flops'] for p in costs['parts'] if p['part'] == 'other') < 0.01 * costs['flops']
    if 'sem_fpn' in config:
        # mmengine's count of the backbone (LayerNorms included) is the project's hook count
        # (conv, linear, LSTM incl. cell ops) plus < 0.5%
        backbone = get_flops.build_backbone(f'{REPO}/configs/{config}', None, {})
        hooks = get_flops.analyse(backbone, shape)['macs']
        assert hooks < costs['summary']['backbone']['flops'] < 1.005 * hooks
    out = capsys.readouterr().out
    task = 'segmentor' if 'sem_fpn' in config else 'detector'
    assert f'({task})' in out and '| backbone | backbone | Sequencer2D |' in out
    assert f'| total | | | {costs["params"] / 1e6:.2f}M' in out


def test_auxiliary_head_is_listed_but_not_run(capsys):
    results = get_flops.main([config_file('tiny_upernet_ade20k.py'), '--shape', '56'])
    parts = {p['name']: p for p in results[0]['parts']}
    assert set(parts) == {'backbone', 'decode_head', 'auxiliary_head', '-'}  # '-': other
    assert not parts['auxiliary_head']['ran'] and parts['auxiliary_head']['flops'] == 0
    assert parts['auxiliary_head']['params'] > 0
    assert parts['decode_head']['part'] == parts['auxiliary_head']['part'] == 'head'
    assert 'not run at test time' in capsys.readouterr().out


def test_classifier_whole_model_is_backbone_plus_head():
    """A classifier: the whole model = the backbone (the hook count + LayerNorms), the pooling
    neck and the linear head (in x classes MACs)."""
    results = get_flops.main([config_file('tiny_seq2d_in1k.py'), '--shape', '56'])
    costs = results[0]
    assert costs['task'] == 'classifier'
    parts = {p['name']: p for p in costs['parts']}
    head = parts['head']
    model = get_flops.build_model(config_file('tiny_seq2d_in1k.py'))
    linear = model.head.fc
    assert head['flops'] == linear.in_features * linear.out_features
    assert head['params'] == sum(p.numel() for p in model.head.parameters())
    hooks = get_flops.analyse(model.backbone, (56, 56))['macs']
    # the LayerNorms weigh more in a tiny model than in S (0.26%)
    assert hooks < parts['backbone']['flops'] < 1.2 * hooks
    assert costs['flops'] == sum(p['flops'] for p in costs['parts'])


def test_arguments():
    with pytest.raises(SystemExit):
        get_flops.parse_args([config_file('tiny_seq2d_in1k.py'), '--num-classes', '10'])
    with pytest.raises(SystemExit):
        get_flops.parse_args(['--arch', 's', '--backbone-only'])
    args = get_flops.parse_args([config_file('tiny_seq2d_in1k.py'), '--backbone-only'])
    assert args.num_classes == 0
    assert get_flops.parse_args(['--arch', 's']).num_classes == 1000
