"""Check that mmcv's compiled ops have the kernels this machine needs.

Runs the ops the project's detection and segmentation configs use (``nms``, ``roi_align``,
``sigmoid_focal_loss``) on tiny tensors against exact references, on the CPU and, where a GPU
is visible, on CUDA; inspects the compiled ``mmcv/_ext*.so`` for its CUDA code: the CUDA
runtime it links and the GPU architectures of its kernels (``cuobjdump --list-elf``).

``--flavour cpu`` wants a build without CUDA, ``--flavour cuda`` one with CUDA kernels for
every ``--arch`` (and for the visible GPUs). ``--wheel`` inspects a built wheel instead of the
installed mmcv (nothing is imported from it). Exit status 0: all good; 1: a check failed;
2: mmcv is missing or cannot be imported.

    python tools/misc/check_mmcv_ops.py --flavour cuda --arch 9.0
    python tools/misc/check_mmcv_ops.py --wheel mmcv-2.1.0-cp311-cp311-linux_x86_64.whl
"""
import argparse
import glob
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

CUDA_LIBS = ('libcudart', 'libc10_cuda', 'libtorch_cuda')


def find_cuobjdump():
    """cuobjdump from PATH, $CUDA_HOME or the copy triton ships (none on a bare CPU machine)."""
    found = shutil.which('cuobjdump')
    if found:
        return found
    candidates = [osp.join(os.environ.get('CUDA_HOME', '/usr/local/cuda'), 'bin', 'cuobjdump')]
    try:
        import importlib.util
        spec = importlib.util.find_spec('triton')
        if spec and spec.submodule_search_locations:
            for loc in spec.submodule_search_locations:
                candidates.append(osp.join(loc, 'backends', 'nvidia', 'bin', 'cuobjdump'))
    except (ImportError, ValueError):
        pass
    return next((c for c in candidates if osp.isfile(c) and os.access(c, os.X_OK)), None)


def linked_libraries(so_path):
    """Names of the shared libraries the extension needs (its DT_NEEDED entries)."""
    if shutil.which('readelf'):
        out = subprocess.run(['readelf', '-d', so_path], capture_output=True, text=True).stdout
        return re.findall(r'\(NEEDED\)\s+Shared library: \[([^\]]+)\]', out)
    # No binutils: the names are plain strings in the dynamic string table.
    with open(so_path, 'rb') as f:
        data = f.read()
    return sorted({m.decode() for m in re.findall(rb'lib[A-Za-z0-9_+-]+\.so[.0-9]*', data)})


def kernel_archs(so_path):
    """GPU architectures with compiled kernels (ELF) and with PTX in the extension, e.g.
    (['sm_90'], []), or None where no cuobjdump is found."""
    tool = find_cuobjdump()
    if tool is None:
        return None
    archs = {}
    for kind in ('elf', 'ptx'):
        res = subprocess.run([tool, f'--list-{kind}', so_path], capture_output=True, text=True)
        # "ELF file    1: _ext.1.sm_90.cubin"; an extension without device code has none.
        archs[kind] = sorted(set(re.findall(r'\.(sm_\d+[af]?)\.(?:cubin|ptx)', res.stdout)))
    return archs['elf'], archs['ptx']


def describe_extension(so_path):
    libs = linked_libraries(so_path)
    archs = kernel_archs(so_path)
    info = dict(extension=so_path, size_mb=round(osp.getsize(so_path) / 2**20, 1),
                cuda_libraries=[lib for lib in libs if lib.startswith(CUDA_LIBS)],
                elf_archs=None if archs is None else archs[0],
                ptx_archs=None if archs is None else archs[1])
    info['has_cuda'] = bool(info['cuda_libraries']) or bool(archs and (archs[0] or archs[1]))
    return info


def sm_name(arch):
    """'9.0' / '8.6+PTX' / 'sm_90' -> 'sm_90' / 'sm_86'."""
    arch = arch.replace('+PTX', '')
    if arch.startswith('sm_'):
        return arch
    major, minor = arch.split('.')
    return f'sm_{major}{minor}'


def _sm_number(sm):
    return int(re.sub(r'\D', '', sm))


def arch_failures(info, archs, gpus=()):
    """What the extension lacks for the wanted architectures (``--arch``: kernels for exactly
    that one, or its PTX for '+PTX') and for the visible GPUs (kernels for the GPU's
    architecture, or PTX of an older one, which the driver compiles). An empty list: nothing."""
    if info['elf_archs'] is None:
        return []  # no cuobjdump: the linked CUDA runtime is all that can be checked
    have = f'has ELF {" ".join(info["elf_archs"]) or "none"}, PTX {" ".join(info["ptx_archs"]) or "none"}'
    missing = []
    for arch in archs:
        sm = sm_name(arch)
        if sm not in info['elf_archs'] and not (arch.endswith('+PTX') and sm in info['ptx_archs']):
            missing.append(f'no {sm} kernels ({have})')
    for gpu in gpus:
        sm = sm_name(gpu)
        if sm not in info['elf_archs'] and not any(
                _sm_number(p) <= _sm_number(sm) for p in info['ptx_archs']):
            missing.append(f'no kernels for the visible GPU ({sm}; {have})')
    return missing


# --- the op checks --------------------------------------------------------------------------


def _greedy_nms(boxes, scores, iou_threshold):
    """Reference NMS: keep the best box, drop those overlapping it by more than the threshold."""
    import torch
    order = scores.argsort(descending=True).tolist()
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order:
        i = order.pop(0)
        keep.append(i)
        rest = torch.tensor(order, dtype=torch.long)
        if not order:
            break
        lt = torch.maximum(boxes[i, :2], boxes[rest, :2])
        rb = torch.minimum(boxes[i, 2:], boxes[rest, 2:])
        inter = (rb - lt).clamp(min=0).prod(dim=1)
        iou = inter / (area[i] + area[rest] - inter)
        order = [j for j, v in zip(order, iou.tolist()) if v <= iou_threshold]
    return keep


def check_nms(device):
    import torch
    from mmcv.ops import nms
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(40, 2, generator=g) * 20
    wh = torch.rand(40, 2, generator=g) * 24 + 4
    boxes = torch.cat([xy, xy + wh], dim=1)
    scores = torch.rand(40, generator=g)
    expected = _greedy_nms(boxes, scores, 0.5)
    _, keep = nms(boxes.to(device), scores.to(device), iou_threshold=0.5)
    got = keep.cpu().tolist()
    assert got == expected, f'kept {got}, expected {expected}'
    return f'{len(got)} of 40 boxes kept, as the reference'


def check_roi_align(device):
    """On a horizontal ramp (value = x) bilinear sampling is exact: each bin's average is the
    ramp at the bin's centre, x1 - 0.5 + (j + 0.5) * width / 2 (aligned=True)."""
    import torch
    from mmcv.ops import roi_align
    height, width = 16, 32
    ramp = torch.arange(width, dtype=torch.float32).expand(1, 2, height, width).contiguous()
    rois = torch.tensor([[0, 2.0, 3.0, 10.0, 9.0], [0, 5.5, 1.5, 25.0, 12.0]])
    out = roi_align(ramp.to(device), rois.to(device), (2, 2), 1.0, 2, 'avg', True).cpu()
    x1, x2 = rois[:, 1], rois[:, 3]
    centres = x1[:, None] - 0.5 + (torch.arange(2) + 0.5) * ((x2 - x1) / 2)[:, None]
    expected = centres[:, None, None, :].expand(2, 2, 2, 2)
    err = (out - expected).abs().max().item()
    assert out.shape == (2, 2, 2, 2) and err < 1e-4, f'max error {err:.3g}'
    return f'max error {err:.1e}'


def check_sigmoid_focal_loss(device):
    import torch
    from mmcv.ops import sigmoid_focal_loss
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(12, 5, generator=g)
    labels = torch.randint(0, 6, (12, ), generator=g)  # 5 = background: no positive class
    gamma, alpha = 2.0, 0.25
    x = logits.clone().requires_grad_()
    p = x.sigmoid()
    target = torch.nn.functional.one_hot(labels, 6)[:, :5].float()
    ref = -(alpha * target * (1 - p)**gamma * torch.log(p)
            + (1 - alpha) * (1 - target) * p**gamma * torch.log(1 - p))
    ref.sum().backward()
    y = logits.to(device).requires_grad_()
    out = sigmoid_focal_loss(y, labels.to(device), gamma, alpha, None, 'none')
    out.sum().backward()
    err = max((out.detach().cpu() - ref.detach()).abs().max().item(),
              (y.grad.cpu() - x.grad).abs().max().item())
    assert err < 1e-5, f'max error {err:.3g} (loss and gradient)'
    return f'max error {err:.1e} (loss and gradient)'


OPS = dict(nms=check_nms, roi_align=check_roi_align, sigmoid_focal_loss=check_sigmoid_focal_loss)
# mmcv 2.1 has no CPU kernel for sigmoid_focal_loss; mmdet's FocalLoss uses its PyTorch
# version on the CPU.
CPU_OPS = ('nms', 'roi_align')


def run_op_checks(devices):
    results = []
    for device in devices:
        for name, fn in OPS.items():
            if device == 'cpu' and name not in CPU_OPS:
                results.append(dict(op=name, device=device, status='n/a',
                                    detail='no CPU kernel in mmcv 2.1 (mmdet uses PyTorch)'))
                continue
            try:
                results.append(dict(op=name, device=device, status='ok', detail=fn(device)))
            except Exception as exc:  # a missing kernel raises RuntimeError from the extension
                msg = ' '.join(str(exc).split())[:300]
                results.append(dict(op=name, device=device, status='FAIL',
                                    detail=f'{type(exc).__name__}: {msg}'))
    return results


# --- entry points ---------------------------------------------------------------------------


def inspect_wheel(path):
    with zipfile.ZipFile(path) as zf, tempfile.TemporaryDirectory() as tmp:
        names = [n for n in zf.namelist() if re.fullmatch(r'mmcv/_ext[^/]*\.so', n)]
        if not names:
            raise SystemExit(f'check_mmcv_ops: {path} has no mmcv/_ext*.so (an mmcv-lite wheel?)')
        info = describe_extension(zf.extract(names[0], tmp))
    info['extension'] = f'{osp.basename(path)}:{names[0]}'
    return info


def inspect_installed():
    try:
        import mmcv
        from mmcv.utils import ext_loader
        ext = ext_loader.load_ext('_ext', ['get_compiling_cuda_version', 'get_compiler_version'])
    except Exception as exc:
        print(f'check_mmcv_ops: cannot import mmcv with its ops: {type(exc).__name__}: {exc}',
              file=sys.stderr)
        raise SystemExit(2)
    so = glob.glob(osp.join(osp.dirname(mmcv.__file__), '_ext*.so'))
    info = describe_extension(so[0]) if so else dict(extension=None, has_cuda=False,
                                                      cuda_libraries=[], elf_archs=None,
                                                      ptx_archs=None)
    info.update(mmcv=mmcv.__version__, compiling_cuda=ext.get_compiling_cuda_version(),
                compiler=ext.get_compiler_version())
    info['has_cuda'] = info['compiling_cuda'] != 'not available'
    return info


def visible_gpu_archs():
    import torch
    if not torch.cuda.is_available():
        return []
    return sorted({'%d.%d' % torch.cuda.get_device_capability(i)
                   for i in range(torch.cuda.device_count())})


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--flavour', choices=['cpu', 'cuda'],
                        help='the build wanted (default: report only, fail only on a broken op)')
    parser.add_argument('--arch', nargs='+', default=[],
                        help='GPU architectures the CUDA build must have, e.g. 9.0 8.6+PTX')
    parser.add_argument('--wheel', help='inspect this mmcv wheel instead of the installed mmcv')
    parser.add_argument('--device', choices=['auto', 'cpu', 'cuda'], default='auto',
                        help='where to run the ops (auto: the CPU, and CUDA when visible)')
    parser.add_argument('--json', help='also write the results to this JSON file')
    parser.add_argument('--quiet', action='store_true', help='print only failures')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    failures = []
    if args.wheel:
        info, results, gpus = inspect_wheel(args.wheel), [], []
    else:
        info = inspect_installed()
        import torch
        gpus = visible_gpu_archs()
        if args.device == 'cuda' and not gpus:
            failures.append('--device cuda, but torch sees no GPU')
        # The CPU flavour is checked on the CPU only, also on a GPU machine.
        auto = ['cpu'] + (['cuda'] if gpus and args.flavour != 'cpu' else [])
        devices = dict(auto=auto, cpu=['cpu'], cuda=['cuda'] if gpus else [])[args.device]
        results = run_op_checks(devices)
        failures += [f'{r["op"]} on {r["device"]}: {r["detail"]}' for r in results
                     if r['status'] == 'FAIL']
        info['torch'] = torch.__version__
    if args.flavour == 'cpu' and info['has_cuda']:
        failures.append('a CUDA build (' + (', '.join(info['cuda_libraries']) or 'CUDA code')
                        + '), but the CPU flavour is wanted')
    if args.flavour == 'cuda':
        if not info['has_cuda']:
            failures.append('a CPU-only build ("Not compiled with GPU support"), but the CUDA '
                            'flavour is wanted')
        else:
            failures += arch_failures(info, args.arch, gpus)
    info.update(visible_gpus=gpus, ops=results, failures=failures, ok=not failures)
    if args.json:
        tmp = args.json + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(info, f, indent=1)
        os.replace(tmp, args.json)
    if not args.quiet:
        build = 'CUDA ' + info.get('compiling_cuda', '') if info['has_cuda'] else 'CPU-only'
        print(f'check_mmcv_ops: {info["extension"]}: {build.strip()} build, '
              f'{info.get("size_mb", "?")} MB; CUDA libraries: '
              f'{", ".join(info["cuda_libraries"]) or "none"}; kernels: '
              + ('? (no cuobjdump)' if info['elf_archs'] is None else
                 f'ELF {" ".join(info["elf_archs"]) or "none"}, '
                 f'PTX {" ".join(info["ptx_archs"]) or "none"}'))
        for r in results:
            print(f'check_mmcv_ops: {r["op"]:<18} {r["device"]:<4} {r["status"]:<4} {r["detail"]}')
    for msg in failures:
        print(f'check_mmcv_ops: FAIL: {msg}', file=sys.stderr)
    if not failures and not args.quiet:
        print('check_mmcv_ops: ok')
    return 0 if not failures else 1


if __name__ == '__main__':
    sys.exit(main())
