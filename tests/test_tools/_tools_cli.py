"""Shared by the tool tests: run the shell tools as users do, tiny overrides per task."""
import os
import os.path as osp
import socket
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# A 4-stage Sequencer2D small enough for seconds of CPU: set from the command line by
# replacing the config's arch string with a dict (`_delete_`).
TINY_ARCH = dict(layers=[1, 1, 1, 1], patch_sizes=[7, 2, 1, 1], embed_dims=[16, 32, 32, 32],
                 hidden_sizes=[4, 8, 8, 8], mlp_ratios=[2, 2, 2, 2])


def _fmt(value):
    return '[' + ','.join(str(v) for v in value) + ']' if isinstance(value, list) else str(value)


def arch_options(pretrained=False):
    opts = ['model.backbone.arch._delete_=True']
    opts += [f'model.backbone.arch.{k}={_fmt(v)}' for k, v in TINY_ARCH.items()]
    if not pretrained:
        opts.append('model.backbone.init_cfg=None')
    return opts


def loader_options(prefix, data_root, **extra):
    opts = [f'{prefix}_dataloader.dataset.data_root={data_root}',
            f'{prefix}_dataloader.num_workers=0',
            f'{prefix}_dataloader.persistent_workers=False']
    return opts + [f'{prefix}_dataloader.{k}={v}' for k, v in extra.items()]


def seg_options(ade_root, config='configs/sem_fpn_seq2d_s_ade20k.py'):
    """configs/sem_fpn_seq2d_*_ade20k.py at 56 px crops with a 16-channel FPN."""
    return arch_options() + tiny_neck_options(config) + [
        'model.decode_head.in_channels=[16,16,16,16]', 'model.decode_head.channels=16',
    ] + loader_options('train', ade_root, **{
        'batch_size': 2, 'dataset.pipeline.2.scale': '(140,56)',
        'dataset.pipeline.3.crop_size': '(56,56)'
    }) + [opt for split in ('val', 'test') for opt in loader_options(
        split, ade_root, **{'dataset.pipeline.1.scale': '(140,56)'})]


def det_options(coco_root, config='configs/retinanet_seq2d_s_coco.py'):
    """configs/retinanet_seq2d_*_coco.py at ~84x112 px with a 16-channel FPN and head."""
    coco_root = coco_root.rstrip('/') + '/'
    ann = coco_root + 'annotations/instances_val2017.json'
    opts = arch_options() + tiny_neck_options(config) + [
        'model.bbox_head.in_channels=16', 'model.bbox_head.feat_channels=16',
        'model.bbox_head.stacked_convs=1',
        # an untrained RetinaNet scores below the default 0.05: keep every box
        'model.test_cfg.score_thr=0.0',
    ] + loader_options('train', coco_root, **{'dataset.pipeline.2.scale': '(112,84)'})
    for split in ('val', 'test'):
        opts += loader_options(split, coco_root, **{'dataset.pipeline.1.scale': '(112,84)'})
        opts.append(f'{split}_evaluator.ann_file={ann}')
    return opts


def cls_options(imagenet_root):
    """configs/seq2d_*_in1k.py at 56 px (the recipe's augmentations, mixup/cutmix kept)."""
    opts = arch_options(pretrained=True) + ['model.head.in_channels=32']
    opts += loader_options('train', imagenet_root, **{
        'batch_size': 4, 'dataset.pipeline.1.scale': 56})
    for split in ('val', 'test'):
        opts += loader_options(split, imagenet_root, **{
            'batch_size': 4, 'dataset.pipeline.1.scale': 64,
            'dataset.pipeline.2.crop_size': 56})
    return opts


def tiny_neck_options(config):
    """FPN input channels for the tiny arch at the config's own ``out_indices``."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, config))
    out_indices = cfg.model.backbone.out_indices
    out_indices = [out_indices] if isinstance(out_indices, int) else out_indices
    channels = [TINY_ARCH['embed_dims'][i] for i in out_indices]
    opts = [f'model.neck.in_channels={_fmt(channels)}', 'model.neck.out_channels=16']
    if cfg.model.neck.get('start_level', 0) > 0:
        # FPN skips the first backbone outputs, whose norms then get no gradient
        opts.append('find_unused_parameters=True')
    return opts


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run(cmd, timeout=300, **env):
    """Run a tool from the repo root with one thread per process; fail with its output."""
    full_env = dict(os.environ, OMP_NUM_THREADS='1', PYTHON=sys.executable,
                    PORT=str(free_port()), **{k: str(v) for k, v in env.items()})
    proc = subprocess.run(cmd, cwd=REPO, env=full_env, capture_output=True, text=True,
                          timeout=timeout)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{" ".join(cmd[:3])} ... failed:\n{output[-4000:]}'
    # a gloo job whose process group (threads) outlives the tool can abort at exit
    assert 'terminate called' not in output
    assert 'outlived the process group' not in output
    return output
