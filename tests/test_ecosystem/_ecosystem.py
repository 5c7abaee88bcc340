"""Shared by the ecosystem tests: the OpenMMLab libraries' own tools, tiny configs and data.

The libraries ship their ``tools/`` inside the installed package, under ``<lib>/.mim/tools/``
(what ``mim train`` / ``mim test`` run); the tests run those files with this interpreter, as
subprocesses in a temporary folder.
"""
import gc
import importlib.util
import os
import os.path as osp
import subprocess
import sys
from typing import Dict, List

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CONFIGS = osp.join(REPO, 'tests', 'configs')

# task -> (library package, tiny config, the config's custom_imports as the README writes them)
TASKS = {
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


def run_python(args: List[str], cwd: str, timeout: int = 300) -> str:
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
    return run_python([library_tool(lib, relpath), *args], cwd)


def make_data(root: str) -> Dict[str, str]:
    """The three generated data sets; task -> data_root."""
    from mmseq.testing import make_ade20k, make_coco, make_imagenet
    ade = make_ade20k(osp.join(root, 'ade'), n_train=4, n_val=2, size=(56, 70), num_classes=6)
    make_coco(osp.join(root, 'coco'), n_train=4, n_val=2, size=(60, 80), num_classes=3)
    make_imagenet(osp.join(root, 'imagenet'), num_classes=10, per_class=1, val_per_class=1,
                  size=64)
    return dict(seg=osp.join(root, ade['root']), det=osp.join(root, 'coco') + '/',
                cls=osp.join(root, 'imagenet'))


def data_options(task: str, data_root: str) -> List[str]:
    """``--cfg-options`` pointing a tiny config at generated data (tools/misc/stress_dist.sh)."""
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
    _, config, imports = TASKS[task]
    path = osp.join(folder, f'user_{task}.py')
    with open(path, 'w') as f:
        f.write(f'_base_ = [{osp.join(TINY_CONFIGS, config)!r}]\n'
                f'custom_imports = dict(imports={imports!r}, allow_failed_imports=False)\n'
                "default_hooks = dict(checkpoint=dict(type='CheckpointHook'))\n")
    return path


def last_checkpoint(work_dir: str) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        path = f.read().strip()
    assert osp.isfile(path), path
    return path


def train_in_process(task: str, work_dir: str, data_root: str, options: Dict) -> str:
    """Train the project's tiny config (as it is, the project's AtomicCheckpointHook included)
    with mmengine's Runner in this process; return the checkpoint it wrote last."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    _, config, _ = TASKS[task]
    cfg = Config.fromfile(osp.join(TINY_CONFIGS, config))
    cfg.merge_from_dict(dict(opt.split('=', 1) for opt in data_options(task, data_root)))
    cfg.merge_from_dict(options)
    cfg.work_dir = work_dir
    cfg.default_hooks.logger.interval = 100
    runner = Runner.from_cfg(cfg)
    runner.train()
    del runner
    gc.collect()
    return last_checkpoint(work_dir)
