#!/usr/bin/env python
"""Make an editable install of mmseq (``pip install -e .``) findable by ``mim train mmseq`` and
``mim test mmseq``: link ``<site-packages>/mmseq`` to this checkout's ``mmseq/``.

    python tools/misc/mim_link.py            # with the Python of the environment mmseq is in
    python tools/misc/mim_link.py --check    # only say whether mim can find the checkout

mim (0.3.9) finds a codebase's configs and tools under ``<location>/<package>/.mim``, where
``<location>`` is the folder of the package's installed metadata: ``site-packages``. A wheel
has ``site-packages/mmseq/.mim``; an editable install has only its metadata there (the package
stays in the checkout, where ``mmseq/.mim`` links to ``configs/``, ``tools/`` and
``model-index.yml``). The link adds the missing path; Python then imports mmseq through it,
the same files as before. It is recorded in the install's RECORD, so ``pip uninstall mmseq``
removes it with the rest (and a new ``pip install -e .`` too: run this again after one;
``make setup`` does).
"""
import argparse
import importlib.metadata
import json
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

CHECKOUT = Path(__file__).resolve().parents[2]
PACKAGE = 'mmseq'


def editable_checkout(dist) -> 'Path | None':
    """The folder an editable install of ``dist`` was made from (PEP 610 direct_url.json),
    or None for any other install."""
    text = dist.read_text('direct_url.json')
    if not text:
        return None
    info = json.loads(text)
    if not info.get('dir_info', {}).get('editable') or not info['url'].startswith('file:'):
        return None
    return Path(unquote(urlparse(info['url']).path)).resolve()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description='Link <site-packages>/mmseq to this checkout\'s mmseq/ so that mim finds '
        'an editable install (pip install -e .) of it; recorded for pip uninstall.')
    parser.add_argument('--check', action='store_true',
                        help='change nothing; exit 1 when mim cannot find the checkout')
    args = parser.parse_args(argv)

    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        print(f'mim_link: {PACKAGE} is not installed in {sys.prefix}; '
              'first: pip install --no-deps -e .', file=sys.stderr)
        return 1
    source = editable_checkout(dist)
    site = Path(dist.locate_file(''))
    link = site / PACKAGE
    if source is None:
        print(f'mim_link: {PACKAGE} in {site} is not an editable install; a wheel carries '
              f'{PACKAGE}/.mim itself, nothing to link')
        return 0
    if source != CHECKOUT:
        print(f'mim_link: {PACKAGE} is an editable install of {source}, not of {CHECKOUT}; run '
              'the mim_link.py of that checkout', file=sys.stderr)
        return 1
    target = CHECKOUT / PACKAGE
    if not (target / '.mim' / 'configs').exists():
        print(f'mim_link: {target}/.mim is missing (the editable install makes it); '
              'reinstall: pip install --no-deps -e .', file=sys.stderr)
        return 1
    linked = link.is_symlink() and link.resolve() == target.resolve()
    if args.check:
        print(f'mim_link: {link} -> {target}' if linked else f'mim_link: no link {link}')
        return 0 if linked else 1
    if link.exists() and not link.is_symlink():
        print(f'mim_link: {link} exists and is not a link (a copy of {PACKAGE}?); remove it '
              'first', file=sys.stderr)
        return 1
    if not linked:
        if link.is_symlink():
            link.unlink()
        try:
            link.symlink_to(target, target_is_directory=True)
        except OSError as err:
            print(f'mim_link: cannot link {link} -> {target}: {err}', file=sys.stderr)
            return 1
    # pip uninstall removes what RECORD lists: the link, not the checkout it points to.
    files = dist.files or []
    if not any(str(f) == PACKAGE for f in files):
        record = next(f for f in files if f.name == 'RECORD' and f.parent.name.endswith(
            '.dist-info')).locate()
        with open(record, 'a') as f:
            f.write(f'{PACKAGE},,\n')
    print(f'mim_link: {link} -> {target} (mim train/test {PACKAGE} find its configs and tools)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
