#!/usr/bin/env python3
"""Carry a large wheel as a tar.xz of its members and turn it back into the same wheel.

    python .dev_scripts/wheel_pack.py pack WHEEL OUT_DIR     # -> OUT_DIR/WHEEL.txz
    python .dev_scripts/wheel_pack.py unpack WHEEL.txz OUT_DIR  # -> OUT_DIR/WHEEL

A wheel is a zip that deflates each file alone; xz over all of them together is much smaller
(opencv-python-headless 4.11: 47.7 MiB as a wheel, 29.7 MiB packed), which keeps the wheelhouse
of .dev_scripts/make_wheelhouse.sh small (or within its WHEELHOUSE_MAX_MB). The members keep
their names, bytes, order, modes (pip sets the executable bits from them) and times, so the
wheel made by ``unpack`` has the same members and its RECORD hashes still match. Standard
library only, Python >= 3.8: it runs on the GPU machine (.dev_scripts/gpu_check.sh) before
anything is installed.
"""
import argparse
import calendar
import io
import os
import sys
import tarfile
import time
import zipfile

SUFFIX = '.txz'


def _mib(path):
    return os.path.getsize(path) / 2**20


def _fail(msg):
    print(f'wheel_pack: {msg}', file=sys.stderr)
    sys.exit(2)


def pack(wheel, out_dir, preset=6):
    """Write OUT_DIR/<wheel name>.txz: one tar entry per zip member, in the zip's order."""
    name = os.path.basename(wheel)
    if not name.endswith('.whl'):
        _fail(f'{wheel}: not a wheel (.whl)')
    if not zipfile.is_zipfile(wheel):
        _fail(f'{wheel}: not a zip file, so not a wheel')
    os.makedirs(out_dir, exist_ok=True)
    dest = os.path.join(out_dir, name + SUFFIX)
    t = time.time()
    with zipfile.ZipFile(wheel) as zf, tarfile.open(dest + '.tmp', 'w:xz', preset=preset,
                                                    format=tarfile.PAX_FORMAT) as tf:
        for info in zf.infolist():
            entry = tarfile.TarInfo(info.filename.rstrip('/'))
            # Fixed owner, the zip's own time and mode: the same wheel gives the same bytes.
            entry.mtime = calendar.timegm(info.date_time + (0, 0, 0))  # as UTC: any TZ
            mode = (info.external_attr >> 16) & 0o7777
            if info.is_dir():
                entry.type, entry.mode = tarfile.DIRTYPE, mode or 0o755
                tf.addfile(entry)
            else:
                data = zf.read(info)
                entry.size, entry.mode = len(data), mode or 0o644
                tf.addfile(entry, io.BytesIO(data))
    os.replace(dest + '.tmp', dest)
    print(f'wheel_pack: {name}: {_mib(wheel):.2f} MiB -> {os.path.basename(dest)}: '
          f'{_mib(dest):.2f} MiB ({time.time() - t:.1f} s)')
    return dest


def unpack(packed, out_dir):
    """Write OUT_DIR/<wheel name> from a .whl.txz (stored, not deflated: pip reads it once)."""
    name = os.path.basename(packed)
    if not name.endswith('.whl' + SUFFIX):
        _fail(f'{packed}: not a packed wheel (.whl{SUFFIX})')
    try:
        tf = tarfile.open(packed, 'r:xz')
    except (tarfile.TarError, OSError, EOFError) as exc:  # lzma.LZMAError is an OSError
        _fail(f'{packed}: not a tar.xz ({exc})')
    os.makedirs(out_dir, exist_ok=True)
    dest = os.path.join(out_dir, name[:-len(SUFFIX)])
    with tf, zipfile.ZipFile(dest + '.tmp', 'w', zipfile.ZIP_STORED) as zf:
        for entry in tf:
            if entry.name.startswith('/') or '..' in entry.name.split('/'):
                _fail(f'{packed}: unsafe member name {entry.name!r}')
            stamp = time.gmtime(max(entry.mtime, 315532800))[:6]  # zip times start in 1980
            if entry.isdir():
                info = zipfile.ZipInfo(entry.name + '/', stamp)
                info.external_attr = (0o40000 | entry.mode) << 16 | 0x10
                zf.writestr(info, b'')
            elif entry.isfile():
                info = zipfile.ZipInfo(entry.name, stamp)
                info.external_attr = (0o100000 | entry.mode) << 16
                info.create_system = 3  # unix mode bits, whatever the OS that unpacks
                zf.writestr(info, tf.extractfile(entry).read())
            else:
                _fail(f'{packed}: {entry.name!r} is neither a file nor a folder')
    os.replace(dest + '.tmp', dest)
    print(dest)
    return dest


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('pack', help='WHEEL -> OUT_DIR/WHEEL.txz (prints both sizes)')
    p.add_argument('wheel')
    p.add_argument('out_dir')
    p.add_argument('--preset', type=int, default=6, help='xz preset (default 6)')
    u = sub.add_parser('unpack', help='WHEEL.txz -> OUT_DIR/WHEEL (prints its path)')
    u.add_argument('packed')
    u.add_argument('out_dir')
    args = parser.parse_args(argv)
    for path in [args.wheel if args.cmd == 'pack' else args.packed]:
        if not os.path.isfile(path):
            _fail(f'{path}: no such file')
    if args.cmd == 'pack':
        pack(args.wheel, args.out_dir, args.preset)
    else:
        unpack(args.packed, args.out_dir)


if __name__ == '__main__':
    main()
