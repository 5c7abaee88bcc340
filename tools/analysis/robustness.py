r"""Robustness and generalization of an ImageNet-1K classifier (paper Sec. 4.4 and App. C,
Tables 8 and 9): IN-A, IN-R, IN-Sketch, IN-C (mCE), IN-V2, IN-ReaL, FGSM and PGD.

Example (Table 8's IN-C column and Table 9's row for one model)::

    python tools/analysis/robustness.py configs/seq2d_l_in1k.py timm://sequencer2d_l.in1k \
        --benchmark imagenet-c --data-root data/imagenet-c --out-dir work_dirs/robustness

Prints ``NAME: METRIC = VALUE`` (e.g. ``imagenet-c: mCE = 48.90``) and writes
``robustness_NAME.json`` (per-corruption errors and CEs, top-5, image counts, ...) in
``--out-dir``. The data layouts are described in docs/robustness_benchmarks.md and in
:mod:`mmseq.analysis.robustness`. Images go through the config's test pipeline.
"""
import argparse
import json
import os
import os.path as osp

import torch
from mmengine.config import DictAction

from mmseq.analysis import build_model
from mmseq.analysis.robustness import (BENCHMARKS, CORRUPTIONS, check_imagenet_classifier,
                                       evaluate_benchmark)
from mmseq.utils import atomic_write_bytes, get_test_pipeline, load_config


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config', help='ImageNet-1K classifier config (1000 classes)')
    p.add_argument('checkpoint', help='its weights: a file (e.g. a tools/train.py checkpoint), '
                   'an http(s):// URL or timm://sequencer2d_{s,m,l}.in1k')
    p.add_argument('--benchmark', required=True, choices=BENCHMARKS)
    p.add_argument('--data-root', required=True,
                   help='the benchmark in its release layout (docs/robustness_benchmarks.md)')
    p.add_argument('--out-dir', default='work_dirs/robustness',
                   help='where robustness_<benchmark>.json goes')
    p.add_argument('--corruptions', nargs='+', default=None, choices=CORRUPTIONS,
                   help='imagenet-c: a subset of the 15 (the mCE over it is then marked '
                   'incomplete)')
    p.add_argument('--max-images', type=int, default=None,
                   help='N images evenly spaced over the set (per corruption and severity '
                   'for imagenet-c), for a quick estimate')
    p.add_argument('--resume', action='store_true',
                   help='imagenet-c: keep the severities an interrupted run of the same model '
                   'already wrote to the JSON')
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--num-workers', type=int, default=4, help='data-loading processes')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default=None,
                   help='overrides merged into the config')
    args = p.parse_args(argv)
    if args.corruptions and args.benchmark != 'imagenet-c':
        p.error('--corruptions applies to --benchmark imagenet-c only')
    if args.max_images is not None and args.max_images < 1:
        p.error('--max-images must be positive')
    if '://' not in args.checkpoint and not osp.isfile(args.checkpoint):
        p.error(f'checkpoint not found: {args.checkpoint}')
    return args


def write_json(report: dict, path: str) -> None:
    atomic_write_bytes((json.dumps(report, indent=1) + '\n').encode(), path)


def previous_errors(path: str, identity: dict):
    """Severities an interrupted imagenet-c run of the same model and images wrote."""
    if not osp.isfile(path):
        return None
    with open(path) as f:
        old = json.load(f)
    same = all(old.get(k) == v for k, v in identity.items())
    if not same:
        print(f'--resume: {path} is from another model or image selection; starting afresh')
        return None
    if 'errors' in old:  # a partial report
        return old['errors']
    return {c: v['errors'] for c, v in old.get('corruptions', {}).items()}


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    model = build_model(cfg, args.checkpoint, args.device)
    check_imagenet_classifier(model)
    out_file = osp.join(args.out_dir, f'robustness_{args.benchmark}.json')
    os.makedirs(args.out_dir, exist_ok=True)
    identity = dict(config=osp.abspath(args.config), checkpoint=osp.abspath(args.checkpoint),
                    cfg_options=args.cfg_options, max_images=args.max_images)
    identity = json.loads(json.dumps(identity))  # as it reads back (tuples -> lists)
    done = None
    if args.resume and args.benchmark == 'imagenet-c':
        done = previous_errors(out_file, identity)

    def save_partial(partial):
        write_json(dict(identity, **partial), out_file)

    print(f'evaluating {args.config} on {args.benchmark} ({args.data_root})')
    report = evaluate_benchmark(
        args.benchmark, model, args.data_root, get_test_pipeline(cfg),
        batch_size=args.batch_size, num_workers=args.num_workers, max_images=args.max_images,
        corruptions=args.corruptions or CORRUPTIONS, done=done, on_progress=save_partial)
    print()
    report = dict(identity, **report)
    write_json(report, out_file)
    if args.benchmark == 'imagenet-c':
        for c, v in report['corruptions'].items():
            print(f'  {c:18s} error {v["mean_error"]:6.2f}  CE {v["ce"]:6.2f}')
        if not report['complete']:
            print(f'  (mCE over {len(report["corruptions"])} of the {len(CORRUPTIONS)} '
                  'corruptions)')
    print(f'{args.benchmark}: {report["metric"]} = {report["value"]:.2f}')
    print(f'wrote {out_file}')


if __name__ == '__main__':
    if 'OMP_NUM_THREADS' not in os.environ:
        torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    try:
        main()
    except (FileNotFoundError, ValueError) as e:  # bad data or model: the message, no trace
        raise SystemExit(f'robustness.py: error: {e}')
