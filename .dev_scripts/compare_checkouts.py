"""Speed and memory of this checkout against another one (e.g. the commit before a refactor),
measured in one run: every repeat runs ``tools/analysis/benchmark.py`` once in the other
checkout and once in this one, back to back (alternating which goes first), and the report gives the medians of the
per-repeat ratios. timm's ``sequencer2d_s`` runs in both processes too, so a second ratio
(each checkout's speed relative to timm in its own process) cancels what differs between
two processes. For training it also counts the bytes autograd saves in one forward of each
checkout (deterministic, unlike the RSS peak).

    git worktree add /tmp/base HEAD~3     # the commit to compare against
    (cd /tmp/base && $OLDPWD/.venv/bin/python setup.py build_ext --inplace)   # its step loops
    .venv/bin/python .dev_scripts/compare_checkouts.py /tmp/base --settings 224:8 512:2 --repeats 5

The other checkout is imported through ``PYTHONPATH``: it must hold its built step loops
(``mmseq/models/layers/_lstm2d_steps*.so`` and ``_lstm2d_steps.build``), built in place as
above or, for an unchanged C++ source, copied from this checkout (docs/development.md).
"""
import argparse
import csv
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile

HERE = osp.dirname(osp.dirname(osp.abspath(__file__)))  # the checkout
MODEL, BASELINE = 'seq2d-s-fused', 'timm-seq2d-s'


def run_benchmark(checkout: str, args, out_dir: str) -> dict:
    # One harness for both checkouts (by default the other checkout's benchmark.py, which this
    # checkout's code must still run under): a harness change must not read as a speed change.
    harness = osp.abspath(args.base) if args.harness == 'base' else HERE
    cmd = [sys.executable, osp.join(harness, 'tools', 'analysis', 'benchmark.py'),
           '--models', MODEL, BASELINE, '--settings', *args.settings, '--modes', *args.modes,
           '--repeats', str(args.inner_repeats), '--out-dir', out_dir]
    if args.threads:
        cmd += ['--threads', str(args.threads)]
    env = dict(os.environ, PYTHONPATH=checkout)
    subprocess.run(cmd, cwd=checkout, env=env, check=True, stdout=subprocess.DEVNULL)
    with open(osp.join(out_dir, 'benchmark.csv')) as f:
        return {(r['model'], r['mode'], r['size'], r['batch']): r for r in csv.DictReader(f)}


# Bytes autograd keeps for the backward of one training forward (unique storages of the saved
# tensors, parameters excluded): a deterministic measure of training memory, where the RSS
# peak varies by a few percent from run to run with the allocator.
SAVED_BYTES = """
import sys, torch
import mmseq.models  # noqa: F401
from mmseq.registry import MODELS
size, batch = int(sys.argv[1]), int(sys.argv[2])
torch.manual_seed(0)
model = MODELS.build(dict(type='Sequencer2D', arch='s', mixer_impl='fused')).train()
x = torch.randn(batch, 3, size, size)
params = {p.untyped_storage().data_ptr() for p in model.parameters()}
storages = {}
def pack(t):
    storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    return t
with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
    out = model(x)
out[-1].sum().backward()
print(sum(b for p, b in storages.items() if p not in params))
"""


def saved_bytes(checkout: str, size: str, batch: str) -> int:
    env = dict(os.environ, PYTHONPATH=checkout)
    out = subprocess.run([sys.executable, '-c', SAVED_BYTES, size, batch], cwd=checkout,
                         env=env, check=True, capture_output=True, text=True).stdout
    return int(out.split()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('base', help='the other checkout')
    parser.add_argument('--settings', nargs='+', default=['224:8', '512:2'])
    parser.add_argument('--modes', nargs='+', default=['infer', 'train'])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--inner-repeats', type=int, default=3,
                        help='timed steps per case in each benchmark process (their median)')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--harness', choices=['base', 'this'], default='base',
                        help="whose tools/analysis/benchmark.py times both checkouts")
    args = parser.parse_args(argv)
    base = osp.abspath(args.base)
    ratios = {}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            rows = {}
            # alternate which checkout runs first, so that order effects (a warmer or cooler
            # machine for the second process) cancel in the medians
            order = (('base', base), ('this', HERE))
            for label, checkout in (order if repeat % 2 == 0 else order[::-1]):
                rows[label] = run_benchmark(checkout, args, osp.join(tmp, label))
            for key, new in rows['this'].items():
                if new['model'] != MODEL:
                    continue
                old = rows['base'][key]
                timm_new = rows['this'][(BASELINE, *key[1:])]
                timm_old = rows['base'][(BASELINE, *key[1:])]
                entry = ratios.setdefault(key[1:], dict(speed=[], speed_vs_timm=[], mem=[]))
                entry['speed'].append(float(old['step_s']) / float(new['step_s']))
                entry['speed_vs_timm'].append(
                    (float(timm_new['step_s']) / float(new['step_s']))
                    / (float(timm_old['step_s']) / float(old['step_s'])))
                entry['mem'].append(float(new['peak_extra_mb']) / float(old['peak_extra_mb']))
            print(f'repeat {repeat + 1}/{args.repeats}: ' + ', '.join(
                f'{mode} {size}:{batch} speed {e["speed"][-1]:.3f} normalised '
                f'{e["speed_vs_timm"][-1]:.3f} memory {e["mem"][-1]:.3f}'
                for (mode, size, batch), e in ratios.items()), file=sys.stderr, flush=True)
    print(f'{MODEL}: this checkout vs {base} (medians of {args.repeats} per-repeat ratios)')
    print(f'{"mode":<6} {"setting":>8} {"speed":>7} {"speed (timm-normalised)":>24} '
          f'{"memory":>7}   per-repeat ranges: speed / normalised / memory')
    for (mode, size, batch), entry in ratios.items():
        spread = ' / '.join(f'{min(v):.2f}-{max(v):.2f}' for v in entry.values())
        print(f'{mode:<6} {size + ":" + batch:>8} {statistics.median(entry["speed"]):>7.3f} '
              f'{statistics.median(entry["speed_vs_timm"]):>24.3f} '
              f'{statistics.median(entry["mem"]):>7.3f}   {spread}')
    print('(speed > 1: this checkout is faster; memory < 1: it needs less extra memory)')
    if 'train' in args.modes:
        print('saved activations of a training forward (MB, deterministic): base / this')
        for setting in args.settings:
            size, batch = setting.split(':')
            old, new = (saved_bytes(c, size, batch) / 2**20 for c in (base, HERE))
            print(f'  {setting:>8}: {old:.1f} / {new:.1f} = {new / old:.3f}')


if __name__ == '__main__':
    main()
