"""Checks of one documented shell command against the repository: the files it names exist,
and its arguments parse with the parser of the tool that receives them.

Recognised commands (after ``VAR=value`` prefixes and ``nice``/``time``/``env``):

- ``python``/``python3``/``.venv/bin/python`` ``SCRIPT.py ARGS``: SCRIPT exists; a script under
  ``tools/`` or ``.dev_scripts/`` has its ARGS parsed by its own argparse parser (reached
  through the tool's ``parse_args(argv)`` or ``main(argv)``, stopped right after parsing);
- ``python -m MODULE ARGS``: MODULE is importable (``pytest``: the test paths exist);
- ``SCRIPT.sh ARGS`` / ``bash SCRIPT.sh ARGS``: SCRIPT exists; a launcher whose usage line
  reads ``usage: $0 CONFIG NPROC [train.py args...]`` passes its fixed arguments named like the
  tool's positionals (CONFIG, CHECKPOINT) and the rest to that tool's parser; any other script
  must mention each ``--option`` it is given;
- ``mim train|test PACKAGE CONFIG ...``: mim's own options parse, the config is found by its
  file name in configs/ (as mim looks it up), mim finds the package's tools in this
  environment, and the remaining arguments parse with tools/train.py / tools/test.py;
- ``make TARGET``: the Makefile has the target.

In every recognised command, a word that names a file of the repository (a path under a
top-level folder of the checkout, or any path/file name ending in .py, .sh, .md, .yml, .jpg,
.png) must exist, except the value of an output option (``--out``, ``--out-dir``,
``--work-dir``, ...). Globs and ``{a,b}`` braces are expanded. Placeholders in capitals
(CONFIG, CKPT) are not paths. A synopsis (a command with ``[optional]`` parts or ``a|b``
alternatives) has only its option names checked.
"""
import argparse
import contextlib
import functools
import glob
import importlib.util
import inspect
import io
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import tempfile
from typing import List, Optional, Tuple

from markdown_docs import REPO, Command, expand_braces

PYTHON = re.compile(r'^(?:\S*/)?python(?:3(?:\.\d+)?)?$')
WRAPPERS = {'nice', 'time', 'env', 'exec', 'command'}
FILE_EXTS = ('.py', '.sh', '.md', '.yml', '.yaml', '.jpg', '.jpeg', '.png')
OUTPUT_OPTION = re.compile(r'^--?(?:[\w-]*out[\w-]*|work-dir|work_dir|save[\w-]*|dst|dest)$')
TOOL_DIRS = ('tools/', '.dev_scripts/')


@functools.lru_cache(maxsize=None)
def top_level_entries() -> frozenset:
    """Top-level folders and files of the checkout (tracked ones, and the usual ones)."""
    names = {'configs', 'tools', 'docs', 'demo', 'tests', 'mmseq', '.dev_scripts',
             'requirements', 'README.md', 'Makefile', 'setup.py', 'model-index.yml'}
    try:
        out = subprocess.run(['git', 'ls-files'], cwd=REPO, capture_output=True, text=True,
                             timeout=60).stdout
        names.update(line.split('/')[0] for line in out.splitlines() if line)
    except (OSError, subprocess.SubprocessError):
        pass
    return frozenset(names)


# ----------------------------------------------------------------- paths
def _is_placeholder(word: str) -> bool:
    return bool(re.fullmatch(r'[A-Z][A-Z0-9_]*(?:\.\w+)?', word))


def path_problems(words: List[str]) -> List[str]:
    """Words that name repository files which do not exist."""
    problems = []
    skip_next = False
    for word in words:
        if skip_next:
            skip_next = False
            continue
        if word.startswith('-'):
            skip_next = bool(OUTPUT_OPTION.match(word.split('=')[0])) and '=' not in word
            continue
        for path in expand_braces(word):
            problem = _missing(path)
            if problem:
                problems.append(problem)
    return problems


def _missing(word: str) -> Optional[str]:
    if (not word or '=' in word or '$' in word or '://' in word or '<' in word
            or word.startswith(('/', '~', '../')) or word in ('.', '..')
            or _is_placeholder(word)):
        return None
    path = word.split('::')[0].rstrip(',:')
    first = path.split('/')[0]
    in_repo = '/' in path and first in top_level_entries()
    if not (in_repo or path.lower().endswith(FILE_EXTS)):
        return None
    if any(c in path for c in '*?['):
        return None if glob.glob(osp.join(REPO, path)) else \
            f'{path!r} matches no file in the repository'
    if not osp.exists(osp.join(REPO, path)):
        return f'{path!r} does not exist in the repository'
    return None


# ----------------------------------------------------------------- tools' parsers
class _Captured(Exception):
    def __init__(self, parser):
        super().__init__()
        self.parser = parser


def _load_module(relpath: str):
    name = 'docs_tool_' + re.sub(r'\W', '_', relpath)
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.lru_cache(maxsize=None)
def _tool_module(relpath: str):
    return _load_module(relpath)


@functools.lru_cache(maxsize=None)
def tool_parser(relpath: str) -> argparse.ArgumentParser:
    """The argparse parser of a tool script: its ``parse_args`` (or ``main``) is called with
    ``ArgumentParser.parse_args`` replaced by a stop, so nothing but building the parser
    runs (no file is read, no model built)."""
    module = _tool_module(relpath)
    entry = getattr(module, 'parse_args', None) or getattr(module, 'main', None)
    if entry is None:
        raise LookupError(f'{relpath} has neither parse_args() nor main()')

    def stop(self, *args, **kwargs):
        raise _Captured(self)

    saved = argparse.ArgumentParser.parse_args, argparse.ArgumentParser.parse_known_args
    argparse.ArgumentParser.parse_args = stop
    argparse.ArgumentParser.parse_known_args = stop
    try:
        entry([]) if inspect.signature(entry).parameters else entry()
    except _Captured as captured:
        return captured.parser
    finally:
        argparse.ArgumentParser.parse_args, argparse.ArgumentParser.parse_known_args = saved
    raise LookupError(f'{relpath}: {entry.__name__}() returned without parsing arguments')


def _subparsers(parser) -> dict:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    return {}


def _known_options(parser, argv: List[str]) -> set:
    known = set(parser._option_string_actions)
    subparsers = _subparsers(parser)
    for word in argv:
        if word in subparsers:
            known |= _known_options(subparsers[word], [])
            break
    return known


def is_synopsis(words: List[str]) -> bool:
    return any((w.startswith('[') or w.endswith(']') or w == '...' or
                re.fullmatch(r'[\w-]+(\|[\w-]+)+', w)) and '=' not in w for w in words)


def argument_problems(tool: str, argv: List[str], synopsis: bool = False) -> List[str]:
    """Problems of ``argv`` given to the tool at ``tool`` (relative path); of a synopsis
    only the option names are checked."""
    try:
        parser = tool_parser(tool)
    except Exception as e:  # noqa: BLE001 - any failure to reach the parser is a finding
        return [f'cannot get the argument parser of {tool}: {type(e).__name__}: {e}']
    known = _known_options(parser, argv)
    problems = []
    for word in argv:
        for name in re.findall(r'(?:^|[\[|])(--?[A-Za-z][\w-]*)', word.split('=')[0]):
            if name not in known:
                problems.append(f'{tool} has no option {name} (it has: '
                                f'{", ".join(sorted(o for o in known if o.startswith("--")))})')
    if problems or synopsis or is_synopsis(argv):
        return problems
    parser.prog = tool
    problem = _exit_message(parser.parse_args, argv)
    if problem is None and hasattr(_tool_module(tool), 'parse_args'):
        # the tool's own parse_args may check more (e.g. that a checkpoint exists): run it
        # where the files the command names exist
        with _files_in_place(tool, argv):
            problem = _exit_message(_tool_module(tool).parse_args, argv)
        if problem and 'CUDA is not available' in problem and not _cuda_available():
            problem = None      # a command for a GPU machine, checked on a CPU machine
    return [f'{tool} rejects the arguments: {problem}'] if problem else []


def _cuda_available() -> bool:
    import torch
    return torch.cuda.is_available()


def _exit_message(parse, argv: List[str]) -> Optional[str]:
    """None if ``parse(argv)`` succeeds (or exits 0, e.g. ``--help``), else its error."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            parse(argv)
        except SystemExit as e:
            if e.code in (0, None):
                return None
            lines = [line for line in err.getvalue().splitlines() if line.strip()]
            return lines[-1] if lines else f'exit {e.code}'
    return None


@contextlib.contextmanager
def _files_in_place(tool: str, argv: List[str]):
    """A scratch working directory with the checkout's top-level entries linked in and an
    empty file for every other file the arguments name (outputs, checkpoints to be trained,
    placeholders such as CHECKPOINT), so that only real mistakes fail."""
    scratch = tempfile.mkdtemp(prefix='docs_cmd_')
    for name in os.listdir(REPO):
        if name == 'work_dirs':  # outputs of earlier runs: the docs' paths get placeholders
            continue
        os.symlink(osp.join(REPO, name), osp.join(scratch, name))
    for word in argv:
        if (word.startswith(('-', '/', '~')) or any(c in word for c in '=$<>*?[') or
                '://' in word or osp.lexists(osp.join(scratch, word.split('/')[0]))):
            continue
        if '/' in word or _is_placeholder(word) or re.search(r'\.\w{2,5}$', word):
            path = osp.join(scratch, word)
            os.makedirs(osp.dirname(path), exist_ok=True)
            open(path, 'a').close()
    cwd, argv0 = os.getcwd(), sys.argv[:1]
    os.chdir(scratch)
    sys.argv[:1] = [tool]       # argparse names the program after it in its messages
    try:
        yield scratch
    finally:
        os.chdir(cwd)
        sys.argv[:1] = argv0
        shutil.rmtree(scratch, ignore_errors=True)


# ----------------------------------------------------------------- launcher scripts
USAGE = re.compile(r'usage: \$0 (?P<fixed>(?:[A-Z_]+ )+)\[(?P<tool>[\w./]+\.py) args')


@functools.lru_cache(maxsize=None)
def launcher_of(script: str) -> Optional[Tuple[Tuple[str, ...], str]]:
    """(fixed argument names, tool path) of a script whose usage line says
    ``usage: $0 CONFIG NPROC [train.py args...]``; None for other scripts."""
    with open(osp.join(REPO, script)) as f:
        m = USAGE.search(f.read())
    if not m:
        return None
    tool = osp.normpath(osp.join(osp.dirname(script), m.group('tool')))
    return tuple(m.group('fixed').split()), tool


def script_problems(script: str, args: List[str]) -> List[str]:
    launcher = launcher_of(script)
    if launcher is None:
        with open(osp.join(REPO, script)) as f:
            text = f.read()
        return [f'{script} does not know the option {w.split("=")[0]}' for w in args
                if w.startswith('-') and w.split('=')[0] not in text]
    fixed, tool = launcher
    if is_synopsis(args):       # `tools/dist_train.sh ...`: only option names can be checked
        return argument_problems(tool, args, synopsis=True)
    if len(args) < len(fixed):
        return [f'{script} needs {len(fixed)} arguments ({" ".join(fixed)}), got {len(args)}']
    try:
        positionals = [a.dest.upper() for a in tool_parser(tool)._actions
                       if not a.option_strings and a.dest != argparse.SUPPRESS]
    except Exception as e:  # noqa: BLE001
        return [f'cannot get the argument parser of {tool}: {type(e).__name__}: {e}']
    tool_argv = [value for name, value in zip(fixed, args) if name in positionals]
    return argument_problems(tool, tool_argv + args[len(fixed):])


# ----------------------------------------------------------------- mim
def mim_problems(args: List[str]) -> List[str]:
    if not args or args[0] not in ('train', 'test'):
        return []
    import click
    module = importlib.import_module(f'mim.commands.{args[0]}')
    try:
        ctx = module.cli.make_context(f'mim {args[0]}', list(args[1:]))
    except click.ClickException as e:
        return [f'mim {args[0]} rejects the arguments: {e.format_message()}']
    params = ctx.params
    if params['package'] != 'mmseq':
        return []
    problems = []
    config = params['config']
    if osp.exists(osp.join(REPO, config)):
        config_path = config
    else:
        found = sorted(osp.relpath(p, REPO) for p in glob.glob(
            osp.join(REPO, 'configs', '**', osp.basename(config)), recursive=True))
        if len(found) != 1:
            problems.append(f'mim finds {len(found)} configs named {osp.basename(config)!r} '
                            f'in configs/ ({found}); it needs exactly one')
        config_path = found[0] if found else 'configs/' + osp.basename(config)
    from mim.utils import get_installed_path
    pkg_root = get_installed_path('mmseq')
    script = osp.join(pkg_root, '.mim', 'tools', f'{args[0]}.py')
    if not (osp.isfile(script) or osp.isfile(osp.join(pkg_root, 'tools', f'{args[0]}.py'))):
        problems.append(f'mim cannot run mmseq here: it looks for {script} (where the '
                        'installed mmseq distribution is), which does not exist')
    tool_argv = [config_path]
    if args[0] == 'test':
        if not params.get('checkpoint'):
            problems.append('mim test needs --checkpoint')
        tool_argv.append(params.get('checkpoint') or 'CKPT')
    tool_argv += ['--launcher', params['launcher'], *params['other_args']]
    return problems + argument_problems(f'tools/{args[0]}.py', tool_argv)


# ----------------------------------------------------------------- one command
def _strip_prefixes(argv: List[str]) -> List[str]:
    argv = list(argv)
    while argv:
        if re.match(r'^[A-Za-z_]\w*=', argv[0]):
            argv.pop(0)
        elif argv[0] in WRAPPERS:
            argv.pop(0)
            while argv and argv[0].startswith('-'):
                argv.pop(0)
                if argv and argv[0].lstrip('-').isdigit():   # nice -n 10
                    argv.pop(0)
        elif argv[0] == 'export':
            return []
        else:
            break
    return argv


def is_checked(cmd: Command) -> bool:
    return kind_of(_strip_prefixes(cmd.argv)) is not None


def kind_of(argv: List[str]) -> Optional[str]:
    if not argv:
        return None
    head = argv[0]
    if PYTHON.match(head):
        return 'python'
    if head in ('bash', 'sh') and len(argv) > 1 and argv[1].endswith('.sh'):
        return 'script'
    if head.endswith('.sh') and not head.startswith('/'):
        return 'script'
    if head in ('mim', 'make', 'torchrun'):
        return head
    return None


def problems_of(cmd: Command) -> List[str]:
    argv = _strip_prefixes(cmd.argv)
    kind = kind_of(argv)
    if kind is None:
        return []
    if kind == 'make':
        with open(osp.join(REPO, 'Makefile')) as f:
            targets = set(re.findall(r'^([\w.-]+)\s*:(?!=)', f.read(), re.M))
        return [f'the Makefile has no target {t!r} (it has {sorted(targets)})'
                for t in argv[1:] if not t.startswith('-') and '=' not in t
                and t not in targets]
    if kind == 'mim':
        return path_problems([w for w in argv[3:] if '/' in w]) + mim_problems(argv[1:])
    if kind == 'script':
        if argv[0] in ('bash', 'sh'):
            argv = argv[1:]
        script, args = argv[0], argv[1:]
        missing = _missing(script) if not script.startswith('$') else None
        if missing or not osp.isfile(osp.join(REPO, script)):
            return [missing or f'{script!r} does not exist in the repository']
        return path_problems(args) + script_problems(osp.normpath(script), args)
    if kind == 'torchrun':
        args = argv[1:]
        scripts = [i for i, w in enumerate(args) if w.endswith('.py')]
        if not scripts:
            return []
        argv = ['python'] + args[scripts[0]:]
    # python
    args = argv[1:]
    while args and args[0].startswith('-') and args[0] not in ('-m', '-c'):
        args = args[1:]
    if not args or args[0] == '-c':
        return []
    if args[0] == '-m':
        if len(args) < 2:
            return ['python -m without a module']
        module, rest = args[1], args[2:]
        if module == 'torch.distributed.run':
            return problems_of(Command(cmd.file, cmd.line, cmd.text, ['torchrun'] + rest))
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        problems = [] if found else [f'python -m {module}: no such module is importable']
        return problems + path_problems(rest)
    script, rest = args[0], args[1:]
    if script.startswith(('/', '$', '<')):
        return []
    missing = _missing(script) or (None if osp.isfile(osp.join(REPO, script))
                                   else f'{script!r} does not exist in the repository')
    if missing:
        return [missing]
    problems = path_problems(rest)
    script = osp.normpath(script)
    if script.startswith(TOOL_DIRS):
        problems += argument_problems(script, rest)
    return problems
