"""What the tests share, in one place (tests/ is on sys.path: setup.cfg's pytest ``pythonpath``).

- paths: ``REPO``, ``config_file(name)`` for the tiny config files in tests/configs/;
- ``TINY_ARCH``: the one tiny Sequencer2D (defined in tests/configs/_tiny_backbone.py);
- real dense configs made shallow (``shallow``), measured strides, segmentation batches and
  padded crops;
- tiny models of the three tasks and small training configs written from them;
- ``ddp_checkpoint``: a distributed run's last checkpoint, checked;
- ``--cfg-options`` that shrink the real configs on the command line, as a user would;
- running tools: ``run`` (a tool as a subprocess), ``load_tool`` (in-process), ``subprocess_env``;
  ``serve_folder`` / ``url_env`` for checkpoints given as http:// URLs (loopback only);
- the OpenMMLab libraries' own ``tools/`` (``library_tool``, ``run_tool``) on tiny configs and
  generated data (``LIBRARY_TASKS``, ``make_task_data``, ``user_config``, ``train_in_process``);
- hooks that put a training process into a fault, for tests/test_robustness/test_faults.py
  (its configs import this module through ``custom_imports``).
"""
import copy
import gc
import importlib.util
import io
import os
import os.path as osp
import resource
import signal
import socket
import subprocess
import sys
import time
from typing import Dict, List

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

TESTS = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(TESTS)


def config_file(name: str) -> str:
    """Path of a config in tests/configs/ (children of the real configs, tiny arch)."""
    return osp.join(TESTS, 'configs', name)


TINY_ARCH = Config.fromfile(config_file('_tiny_backbone.py')).tiny_arch.to_dict()


# ----------------------------------------------------------------- real configs, shallow
def shallow(cfg: Config) -> Config:
    """A copy of a real config whose backbone has the tiny arch's depth (one block per stage)
    and small LSTMs, but the config arch's patch sizes (strides) and channels, so every shape
    the heads see is the real model's."""
    from mmseq.models import Sequencer2D
    cfg = copy.deepcopy(cfg)
    arch = dict(Sequencer2D.arch_zoo[cfg.model.backbone.arch])
    arch.update(layers=TINY_ARCH['layers'], hidden_sizes=TINY_ARCH['hidden_sizes'])
    cfg.model.backbone.arch = arch
    return cfg


def strides_of(feats, pad_h: int, pad_w: int) -> List[int]:
    """Measured stride of each map: padded input / map size, which must be exact."""
    measured = []
    for f in feats:
        h, w = f.shape[2:]
        assert pad_h % h == 0 and pad_w % w == 0, 'level size is not exact'
        assert pad_h // h == pad_w // w
        measured.append(pad_h // h)
    return measured


def seg_batch(h: int, w: int, with_gt: bool = True, n: int = 1) -> dict:
    """A segmentor's data batch of ``n`` random (h, w) images (and random ADE20K labels)."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    inputs, samples = [], []
    for _ in range(n):
        inputs.append(torch.randint(0, 256, (3, h, w), dtype=torch.uint8))
        sample = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
        if with_gt:
            sample.gt_sem_seg = PixelData(data=torch.randint(0, 150, (1, h, w)))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def padded_seg_crop(model, crop_size) -> torch.Tensor:
    """The inputs the segmentor's data preprocessor makes of a training crop of
    ``crop_size``, checked: padded to the backbone's total stride (its own padding is then a
    no-op), here 518x518, and the label map padded with them (ignore index 255), on the same
    grid."""
    crop_h, crop_w = crop_size
    data = model.data_preprocessor(seg_batch(crop_h, crop_w), training=True)
    inputs = data['inputs']
    pad_h, pad_w = inputs.shape[2:]
    assert pad_h % model.backbone.total_stride == 0 and pad_w % model.backbone.total_stride == 0
    assert (pad_h, pad_w) == (518, 518)
    gt = data['data_samples'][0].gt_sem_seg.data
    assert tuple(gt.shape[1:]) == (pad_h, pad_w)
    assert (gt[:, crop_h:, :] == 255).all() and (gt[:, :, crop_w:] == 255).all()
    return inputs

# ----------------------------------------------------------------- tiny models of the tasks
IMPORTS = dict(imports=['mmseq.models', 'mmseq.models.decode_heads', 'mmseq.engine'],
               allow_failed_imports=False)


def classifier_cfg(num_classes: int = 5) -> dict:
    return dict(
        type='ImageClassifier',
        data_preprocessor=dict(type='ClsDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], to_rgb=True,
                               num_classes=num_classes),
        backbone=dict(type='mmseq.Sequencer2D', arch=copy.deepcopy(TINY_ARCH),
                      out_indices=(3, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=32,
                  loss=dict(type='CrossEntropyLoss')))


def _widths(out_indices) -> list:
    """Tiny-arch channels of the stages the base config feeds to its neck."""
    out_indices = [out_indices] if isinstance(out_indices, int) else out_indices
    return [TINY_ARCH['embed_dims'][i] for i in out_indices]


def segmentor_cfg(num_classes: int = 4) -> dict:
    """The project's Semantic FPN base model, shrunk (BN instead of SyncBN)."""
    model = Config.fromfile(osp.join(REPO, 'configs/_base_/models/sem_fpn_seq2d.py')).model
    model = model.to_dict()
    model['backbone']['arch'] = copy.deepcopy(TINY_ARCH)
    model['neck'].update(in_channels=_widths(model['backbone']['out_indices']), out_channels=16)
    model['decode_head'].update(in_channels=[16] * 4, channels=8, num_classes=num_classes,
                                norm_cfg=dict(type='BN', requires_grad=True))
    return model


def detector_cfg(num_classes: int = 3) -> dict:
    """The project's RetinaNet base model, shrunk."""
    model = Config.fromfile(osp.join(REPO, 'configs/_base_/models/retinanet_seq2d.py')).model
    model = model.to_dict()
    model['backbone']['arch'] = copy.deepcopy(TINY_ARCH)
    # FPN reads the backbone outputs the base config asks for (stages 1..3 for RetinaNet).
    model['neck'].update(in_channels=_widths(model['backbone']['out_indices']), out_channels=16)
    model['bbox_head'].update(num_classes=num_classes, in_channels=16, feat_channels=16,
                              stacked_convs=1)
    return model


TASKS = {
    'cls': ('mmpretrain', classifier_cfg),
    'seg': ('mmseg', segmentor_cfg),
    'det': ('mmdet', detector_cfg),
}


def build_model(task: str, **backbone_overrides):
    """Build a tiny model of ``task`` through its library's registry (as the tools do)."""
    import mmseq.engine  # noqa: F401  registers the engine parts
    import mmseq.models  # noqa: F401
    import mmseq.models.decode_heads  # noqa: F401
    from mmengine.registry import MODELS, init_default_scope
    scope, make = TASKS[task]
    cfg = make()
    cfg['backbone'].update(backbone_overrides)
    init_default_scope(scope)
    model = MODELS.build(cfg)
    return model.eval()


# ----------------------------------------------------------------- small training configs
def write_config(path, cfg: dict, **overrides) -> str:
    """Write ``cfg`` with ``overrides`` merged (dotted keys as in ``--cfg-options``) as a
    config file at ``path``; returns the path."""
    cfg = Config(copy.deepcopy(cfg))
    cfg.merge_from_dict(overrides)
    cfg.dump(str(path))
    return str(path)


_RUNTIME = dict(
    custom_imports=IMPORTS,
    env_cfg=dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'),
                 mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0)),
    log_level='WARNING')


def write_cls_train_config(path, data_root: str, max_epochs: int = 3,
                           checkpoint_hook: str = 'mmseq.AtomicCheckpointHook',
                           **overrides) -> str:
    """A deterministic CPU training config of the tiny classifier on ``make_imagenet`` data:
    no random augmentation, no drop path, SGD, one checkpoint per epoch."""
    pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(28, 28)),
                dict(type='PackInputs')]

    def loader(split, shuffle):
        return dict(batch_size=4, num_workers=0,
                    dataset=dict(type='ImageNet', data_root=data_root, split=split,
                                 pipeline=pipeline),
                    sampler=dict(type='DefaultSampler', shuffle=shuffle))

    cfg = dict(
        _RUNTIME,
        default_scope='mmpretrain',
        model=classifier_cfg(num_classes=4),
        train_dataloader=loader('train', True),
        test_dataloader=loader('val', False),
        test_evaluator=dict(type='Accuracy', topk=(1, )),
        test_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        param_scheduler=[dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True)],
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(
            timer=dict(type='IterTimerHook'),
            logger=dict(type='LoggerHook', interval=1),
            param_scheduler=dict(type='ParamSchedulerHook'),
            checkpoint=dict(type=checkpoint_hook, interval=1, max_keep_ckpts=1),
            sampler_seed=dict(type='DistSamplerSeedHook')),
        randomness=dict(seed=1234, deterministic=True))
    return write_config(path, cfg, **overrides)


def make_cls_data(root: str) -> str:
    from mmseq.testing import make_imagenet
    make_imagenet(root, num_classes=4, per_class=4, size=32, val_per_class=1, seed=0)
    return root


def _write_iter_config(path, scope: str, model: dict, dataset: dict, max_iters: int,
                       batch_size: int = 2) -> str:
    cfg = dict(
        _RUNTIME,
        default_scope=scope,
        model=model,
        train_dataloader=dict(batch_size=batch_size, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=True),
                              dataset=dataset),
        optim_wrapper=dict(type='OptimWrapper',
                           optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1),
                           checkpoint=dict(type='mmseq.AtomicCheckpointHook', by_epoch=False,
                                           interval=max_iters)),
        randomness=dict(seed=0))
    return write_config(path, cfg)


def write_seg_train_config(path, data_root: str, max_iters: int = 2) -> str:
    """Tiny Semantic FPN on ``make_ade20k`` data (ADE20KDataset, 150 classes)."""
    from mmseq.testing import make_ade20k
    ade = make_ade20k(data_root, n_train=4, n_val=1, size=(42, 56))['root']
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='LoadAnnotations', reduce_zero_label=True),
                dict(type='PackSegInputs')]
    dataset = dict(type='ADE20KDataset', data_root=ade, reduce_zero_label=True,
                   data_prefix=dict(img_path='images/training',
                                    seg_map_path='annotations/training'),
                   pipeline=pipeline)
    return _write_iter_config(path, 'mmseg', segmentor_cfg(num_classes=150), dataset,
                              max_iters)


def write_det_train_config(path, data_root: str, max_iters: int = 2) -> str:
    """Tiny RetinaNet on ``make_coco`` data (CocoDataset, 80 classes)."""
    from mmseq.testing import make_coco
    make_coco(data_root, n_train=4, n_val=1, size=(56, 84))
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
                dict(type='PackDetInputs')]
    dataset = dict(type='CocoDataset', data_root=data_root,
                   ann_file='annotations/instances_train2017.json',
                   data_prefix=dict(img='train2017/'),
                   filter_cfg=dict(filter_empty_gt=True, min_size=1), pipeline=pipeline)
    return _write_iter_config(path, 'mmdet', detector_cfg(num_classes=80), dataset,
                              max_iters)


# ----------------------------------------------------------------- the real configs, shrunk
# on the command line (--cfg-options), as docs/tools.md shows users
def _fmt(value):
    return '[' + ','.join(str(v) for v in value) + ']' if isinstance(value, list) else str(value)


def arch_options(pretrained=False):
    """The tiny arch in place of the config's arch string (``_delete_``)."""
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


def tiny_neck_options(config):
    """FPN input channels for the tiny arch at the config's own ``out_indices``."""
    cfg = Config.fromfile(osp.join(REPO, config))
    opts = [f'model.neck.in_channels={_fmt(_widths(cfg.model.backbone.out_indices))}',
            'model.neck.out_channels=16']
    if cfg.model.neck.get('start_level', 0) > 0:
        # FPN skips the first backbone outputs, whose norms then get no gradient
        opts.append('find_unused_parameters=True')
    return opts


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


# ----------------------------------------------------------------- offline Hugging Face hub
HUB_COMMIT = '0123456789abcdef0123456789abcdef01234567'  # any 40-hex revision


def write_hub_cache(hf_home: str, name: str, tensors: Dict[str, torch.Tensor],
                    commit: str = HUB_COMMIT) -> str:
    """huggingface_hub's cache layout of the repo ``timm/<name>`` at revision ``main`` (what
    ``hf_hub_download`` leaves behind), for a process run with ``HF_HOME=hf_home`` and
    ``HF_HUB_OFFLINE=1``; returns the path of the stored ``model.safetensors``."""
    from safetensors.torch import save_file
    repo = osp.join(hf_home, 'hub', f'models--timm--{name}')
    snapshot = osp.join(repo, 'snapshots', commit)
    os.makedirs(snapshot, exist_ok=True)
    os.makedirs(osp.join(repo, 'refs'), exist_ok=True)
    path = osp.join(snapshot, 'model.safetensors')
    save_file({k: v.contiguous() for k, v in tensors.items()}, path)
    with open(osp.join(repo, 'refs', 'main'), 'w') as f:
        f.write(commit)
    return path


# ----------------------------------------------------------------- running tools
def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def subprocess_env() -> dict:
    """Environment of a training subprocess: one thread, and MKL's conditional numerical
    reproducibility (without it MKL may pick kernels by memory alignment, and two identical
    runs can differ in the last bits). mmseq is the installed package; tests/ is on the path
    for the configs that custom-import this module (the fault hooks)."""
    return dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', MKL_CBWR='COMPATIBLE',
                PYTHONPATH=TESTS)


def run(cmd, timeout=300, cuda=False, **env):
    """Run a tool from the repo root with one thread per process; fail with its output.
    Without ``cuda`` the GPUs are hidden (``CUDA_VISIBLE_DEVICES=''``, unless ``env`` sets it):
    the CPU suite's jobs (e.g. 2 gloo processes) then run on the CPU on a GPU machine too."""
    full_env = {**os.environ, **({} if cuda else dict(CUDA_VISIBLE_DEVICES='')),
                'OMP_NUM_THREADS': '1', 'PYTHON': sys.executable, 'PORT': str(free_port()),
                **{k: str(v) for k, v in env.items()}}
    proc = subprocess.run(cmd, cwd=REPO, env=full_env, capture_output=True, text=True,
                          timeout=timeout)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{" ".join(cmd[:3])} ... failed:\n{output[-4000:]}'
    # a gloo job whose process group (threads) outlives the tool can abort at exit
    assert 'terminate called' not in output
    assert 'outlived the process group' not in output
    return output


class serve_folder:
    """``with serve_folder(folder) as server:`` the files of ``folder`` over HTTP on
    127.0.0.1 (a free port; loopback only), ``server.url(name)`` their URLs, ``server.requests``
    the paths asked for so far. For checkpoints given as URLs, as OpenMMLab tools take them."""

    def __init__(self, folder: str):
        import functools
        import http.server
        requests = self.requests = []

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(
            ('127.0.0.1', 0), functools.partial(Handler, directory=str(folder)))

    def url(self, name: str) -> str:
        return f'http://127.0.0.1:{self._server.server_address[1]}/{name}'

    def __enter__(self):
        import threading
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()


def url_env(torch_home: str) -> dict:
    """Environment of a process that downloads from :class:`serve_folder`: torch hub's cache
    in ``torch_home``, no proxy for the loopback address."""
    return dict(TORCH_HOME=str(torch_home), NO_PROXY='127.0.0.1,localhost',
                no_proxy='127.0.0.1,localhost')


def load_tool(path: str):
    """Import a script under tools/ (``path`` relative to the repo) as a module."""
    name = osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(f'tool_{name}', osp.join(REPO, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module




# ----------------------------------------------------------------- the libraries' own tools
# The OpenMMLab libraries ship their ``tools/`` inside the installed package, under
# ``<lib>/.mim/tools/`` (what ``mim train`` / ``mim test`` run); the ecosystem tests run those
# files with this interpreter, as subprocesses in a temporary folder.
# task -> (library package, tiny config, the config's custom_imports as the README writes them)
LIBRARY_TASKS = {
    'seg': ('mmseg', 'tiny_sem_fpn_ade20k.py', ['mmseq.models', 'mmseq.models.decode_heads']),
    'det': ('mmdet', 'tiny_retinanet_coco.py', ['mmseq.models']),
    'cls': ('mmpretrain', 'tiny_seq2d_in1k.py', ['mmseq.models']),
}


def library_tool(lib: str, relpath: str) -> str:
    """``<site-packages>/<lib>/.mim/tools/<relpath>``, located without importing ``lib``."""
    spec = importlib.util.find_spec(lib)
    assert spec is not None and spec.submodule_search_locations, f'{lib} is not installed'
    path = osp.join(spec.submodule_search_locations[0], '.mim', 'tools', relpath)
    assert osp.isfile(path), f'{lib} ships no tools/{relpath} (looked for {path})'
    return path


def run_library_python(args: List[str], cwd: str, timeout: int = 300) -> str:
    """Run ``python ARGS`` (this interpreter) in ``cwd``; fail with the end of its output."""
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    env.pop('PYTHONPATH', None)  # mmseq is the installed package, not the checkout
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, \
        f'{" ".join(osp.basename(a) for a in args[:2])} ... failed:\n{output[-5000:]}'
    return output


def run_tool(lib: str, relpath: str, args: List[str], cwd: str) -> str:
    return run_library_python([library_tool(lib, relpath), *args], cwd)


def make_task_data(root: str) -> Dict[str, str]:
    """The three generated data sets; task -> data_root."""
    from mmseq.testing import make_ade20k, make_coco, make_imagenet
    ade = make_ade20k(osp.join(root, 'ade'), n_train=4, n_val=2, size=(56, 70), num_classes=6)
    make_coco(osp.join(root, 'coco'), n_train=4, n_val=2, size=(60, 80), num_classes=3)
    make_imagenet(osp.join(root, 'imagenet'), num_classes=10, per_class=1, val_per_class=1,
                  size=64)
    return dict(seg=osp.join(root, ade['root']), det=osp.join(root, 'coco') + '/',
                cls=osp.join(root, 'imagenet'))


def data_options(task: str, data_root: str) -> List[str]:
    """``--cfg-options`` pointing a tiny config at generated data (.dev_scripts/stress_dist.sh)."""
    opts = [f'{split}_dataloader.dataset.data_root={data_root}'
            for split in ('train', 'val', 'test')]
    if task == 'det':
        ann = data_root + 'annotations/instances_val2017.json'
        opts += [f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}']
    return opts


def user_config(task: str, folder: str) -> str:
    """A user's config on mmseq: the project's tiny config with the README's
    ``custom_imports`` (the models only) and the library's own CheckpointHook, so that nothing
    of mmseq but what ``import mmseq.models`` brings is imported (the project's configs also
    import ``mmseq.engine``, whose checkpoint hook imports ``mmseq.utils``)."""
    _, config, imports = LIBRARY_TASKS[task]
    path = osp.join(folder, f'user_{task}.py')
    with open(path, 'w') as f:
        f.write(f'_base_ = [{config_file(config)!r}]\n'
                f'custom_imports = dict(imports={imports!r}, allow_failed_imports=False)\n'
                "default_hooks = dict(checkpoint=dict(type='CheckpointHook'))\n")
    return path


def last_checkpoint(work_dir: str) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        path = f.read().strip()
    assert osp.isfile(path), path
    return path


def ddp_checkpoint(work_dir: str, name: str, **meta) -> str:
    """The last checkpoint of a distributed run: named ``name``, with ``meta`` in its meta,
    and saved without DDP's ``module.`` prefix (it loads into an unwrapped model)."""
    from mmseq.utils import load_checkpoint_weights_only
    path = last_checkpoint(work_dir)
    assert osp.basename(path) == name
    state = load_checkpoint_weights_only(path)
    for key, value in meta.items():
        assert state['meta'][key] == value
    assert not any(k.startswith('module.') for k in state['state_dict'])
    return path


def train_in_process(task: str, work_dir: str, data_root: str, options: Dict) -> str:
    """Train the project's tiny config (as it is, the project's AtomicCheckpointHook included)
    with mmengine's Runner in this process; return the checkpoint it wrote last."""
    from mmengine.runner import Runner
    _, config, _ = LIBRARY_TASKS[task]
    cfg = Config.fromfile(config_file(config))
    cfg.merge_from_dict(dict(opt.split('=', 1) for opt in data_options(task, data_root)))
    cfg.merge_from_dict(options)
    cfg.work_dir = work_dir
    cfg.default_hooks.logger.interval = 100
    runner = Runner.from_cfg(cfg)
    runner.train()
    del runner
    gc.collect()
    return last_checkpoint(work_dir)


# ----------------------------------------------------------------- fault hooks
# Loaded into training processes by configs with custom_imports=['helpers'] (test_faults.py).
@HOOKS.register_module()
class WaitForKillHook(Hook):
    """After iteration ``at_iter`` (0-based, global): write ``marker`` and wait for the test
    to SIGKILL this process."""

    def __init__(self, at_iter: int, marker: str):
        self.at_iter = at_iter
        self.marker = marker

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.at_iter + 1 and not os.path.exists(self.marker):
            with open(self.marker, 'w') as f:
                f.write(str(os.getpid()))
            time.sleep(120)  # the test kills us long before this returns
            raise RuntimeError('expected to be killed by the test')


@HOOKS.register_module()
class DieWhileSavingHook(Hook):
    """When the checkpoint of epoch ``at_epoch`` starts being written, cap the file size at
    half of that checkpoint's size, so that the kernel kills the process (SIGXFSZ) in the
    middle of writing it: a crash at a deterministic point inside the write. Fires once per
    ``marker`` file (a resumed run is not killed again)."""

    def __init__(self, at_epoch: int, marker: str):
        self.at_epoch = at_epoch
        self.marker = marker

    def before_save_checkpoint(self, runner, checkpoint):
        if checkpoint['meta']['epoch'] != self.at_epoch or os.path.exists(self.marker):
            return
        with io.BytesIO() as buf:
            torch.save(checkpoint, buf)
            limit = buf.tell() // 2
        with open(self.marker, 'w') as f:
            f.write(str(limit))
        # Python ignores SIGXFSZ (writes would fail with EFBIG); restore the default:
        # terminate the process like a kill.
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))


@HOOKS.register_module()
class DieOnRankHook(Hook):
    """SIGKILL this process after iteration ``at_iter`` if it is rank ``rank``: a worker of
    a distributed job that dies without a word (OOM killer, node failure)."""

    def __init__(self, rank: int, at_iter: int, marker: str):
        self.rank = rank
        self.at_iter = at_iter
        self.marker = marker  # receives the time of death

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        from mmengine.dist import get_rank
        if get_rank() == self.rank and runner.iter == self.at_iter:
            with open(self.marker, 'w') as f:
                f.write(repr(time.time()))
            os.kill(os.getpid(), signal.SIGKILL)
