"""``mmseq-config``: start a config in your own project from one that mmseq ships.

    mmseq-config list [WORD]                 the shipped configs (those whose name has WORD)
    mmseq-config copy NAME [DEST]            NAME's text in DEST, its _base_ pointing at the
                                             installed configs: edit the block at its top
    mmseq-config copy NAME [DEST] --flatten  the complete config, every base merged in (what
                                             `mim download --config` writes)

NAME is a path below the configs folder (``sem_fpn_seq2d_s_custom.py``,
``demo/sem_fpn_seq2d_hela_cpu.py``; ``.py`` may be left out). DEST is a file or a folder
(default: the current folder). The shipped configs are those of the installed package
(``mmseq/.mim/configs`` of a wheel, the checkout's ``configs/`` of an editable install).
"""
import argparse
import ast
import os
import os.path as osp
import sys
from typing import List, Optional

import mmseq


def configs_root() -> str:
    """The folder of the configs that come with this mmseq."""
    package = osp.dirname(osp.abspath(mmseq.__file__))
    for root in (osp.join(package, '.mim', 'configs'), osp.join(osp.dirname(package), 'configs')):
        if osp.isfile(osp.join(root, 'metafile.yml')):
            return osp.realpath(root)
    raise FileNotFoundError(f'no configs were installed with mmseq ({package}); reinstall it '
                            'from a wheel or a checkout')


def list_configs(word: str = '') -> List[str]:
    root = configs_root()
    names = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != '_base_' and not d.startswith('.'))
        names += [osp.relpath(osp.join(folder, f), root) for f in files if f.endswith('.py')]
    return sorted(n for n in names if word in n)


def find_config(name: str) -> str:
    root = configs_root()
    rel = name if name.endswith('.py') else name + '.py'
    path = osp.join(root, rel)
    if osp.isfile(path):
        return path
    matches = [n for n in list_configs() if osp.basename(n) == osp.basename(rel)]
    if len(matches) == 1:
        return osp.join(root, matches[0])
    close = [n for n in list_configs() if osp.splitext(osp.basename(rel))[0] in n][:8]
    raise FileNotFoundError(
        f'mmseq ships no config {name!r}'
        + (f'; did you mean: {", ".join(close)}?' if close else '; see `mmseq-config list`'))


def _absolute_bases(text: str, config_dir: str) -> str:
    """``text`` with each relative path of its ``_base_`` made absolute (``pkg::`` paths of
    other packages stay as they are)."""
    tree = ast.parse(text)
    node = next((n for n in tree.body if isinstance(n, ast.Assign) and len(n.targets) == 1
                 and isinstance(n.targets[0], ast.Name) and n.targets[0].id == '_base_'), None)
    if node is None:
        return text
    bases = ast.literal_eval(node.value)
    many = isinstance(bases, (list, tuple))

    def resolve(path: str) -> str:
        return path if '::' in path else osp.normpath(osp.join(config_dir, path))

    value = [resolve(b) for b in bases] if many else resolve(bases)
    lines = text.splitlines(keepends=True)
    start = sum(len(ln) for ln in lines[:node.lineno - 1]) + node.col_offset
    end = sum(len(ln) for ln in lines[:node.end_lineno - 1]) + node.end_col_offset
    return text[:start] + f'_base_ = {value!r}' + text[end:]


def copy_config(name: str, dest: str = '.', flatten: bool = False, force: bool = False) -> str:
    """Write config ``name`` into ``dest`` (a folder or a ``.py`` file); return the path."""
    source = find_config(name)
    target = dest if dest.endswith('.py') else osp.join(dest, osp.basename(source))
    if osp.exists(target) and not force:
        raise FileExistsError(f'{target} exists; choose another DEST or pass --force')
    os.makedirs(osp.dirname(osp.abspath(target)), exist_ok=True)
    if flatten:
        from mmengine.config import Config
        text = (f'# {osp.basename(source)} as mmseq {mmseq.__version__} ships it, every base '
                'merged in (mmseq-config copy --flatten).\n' + Config.fromfile(source).pretty_text)
    else:
        with open(source, encoding='utf-8') as f:
            text = _absolute_bases(f.read(), osp.dirname(source))
        text = (f'# From mmseq {mmseq.__version__}\'s {osp.relpath(source, configs_root())}; '
                'its _base_ is the installed copy (mmseq-config copy).\n' + text)
    with open(target, 'w', encoding='utf-8') as f:
        f.write(text)
    return target


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog='mmseq-config', description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n\n'.join(__doc__.split('\n\n')[1:]))
    sub = parser.add_subparsers(dest='command', required=True)
    listing = sub.add_parser('list', help='the shipped configs')
    listing.add_argument('word', nargs='?', default='', help='only names that contain it')
    copying = sub.add_parser('copy', help='write a shipped config into your folder')
    copying.add_argument('name', help='e.g. sem_fpn_seq2d_s_custom.py')
    copying.add_argument('dest', nargs='?', default='.', help='folder or .py file (default: .)')
    copying.add_argument('--flatten', action='store_true',
                         help='write the complete config, every base merged in')
    copying.add_argument('--force', action='store_true', help='overwrite an existing file')
    args = parser.parse_args(argv)
    try:
        if args.command == 'list':
            print('\n'.join(list_configs(args.word)))
        else:
            print(copy_config(args.name, args.dest, args.flatten, args.force))
    except (FileNotFoundError, FileExistsError) as error:
        print(f'mmseq-config: {error}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
