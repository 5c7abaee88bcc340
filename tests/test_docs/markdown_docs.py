"""Reading the user docs (README.md and docs/*.md) for the docs tests: fenced code blocks with
their line numbers and markers, the commands in shell blocks, links and headings.

Marker convention (an HTML comment on the line(s) just before a fence; blank lines allowed):

    <!-- test: skip (reason) -->     a ```python block that is not executed, with the reason

Every other ```python block is executed. Shell blocks (```bash, ```shell, ```sh, ```console)
have no markers: each command in them is checked (paths and arguments).
"""
import glob
import os.path as osp
import re
import shlex
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

TESTS = osp.dirname(osp.dirname(osp.abspath(__file__)))
REPO = osp.dirname(TESTS)

SHELL_LANGS = {'bash', 'shell', 'sh', 'console', 'zsh'}
PYTHON_LANGS = {'python', 'py', 'python3'}

FENCE = re.compile(r'^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<lang>[^\s`{]*)')
MARKER = re.compile(r'^\s*<!--\s*test:\s*(?P<body>.*?)\s*-->\s*$')
SKIP = re.compile(r'^skip\s*\((?P<reason>[^)]*\S[^)]*)\)$')
HEADING = re.compile(r'^(?P<hashes>#{1,6})\s+(?P<text>.+?)\s*#*\s*$')


def doc_files() -> List[str]:
    """README.md and every docs/*.md, relative to the repository root."""
    files = ['README.md'] if osp.isfile(osp.join(REPO, 'README.md')) else []
    files += sorted(osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'docs', '*.md')))
    return files


def read(relpath: str) -> List[str]:
    with open(osp.join(REPO, relpath), encoding='utf-8') as f:
        return f.read().splitlines()


@dataclass
class Block:
    file: str
    lang: str
    fence_line: int              # 1-based line of the opening fence
    lines: List[str]             # the block's content
    markers: List[str] = field(default_factory=list)
    closed: bool = True

    @property
    def first_line(self) -> int:
        return self.fence_line + 1

    @property
    def skip_reason(self) -> Optional[str]:
        for body in self.markers:
            m = SKIP.match(body)
            if m:
                return m.group('reason').strip()
        return None

    @property
    def where(self) -> str:
        return f'{self.file}:{self.fence_line}'


def blocks(relpath: str) -> List[Block]:
    """The fenced code blocks of a markdown file, with the markers just above each."""
    lines = read(relpath)
    found, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, start = m.group('fence'), i
        j = i + 1
        while j < len(lines) and not re.match(
                rf'^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$', lines[j]):
            j += 1
        markers, k = [], start - 1
        while k >= 0 and (not lines[k].strip() or MARKER.match(lines[k])):
            if lines[k].strip():
                markers.insert(0, MARKER.match(lines[k]).group('body'))
            k -= 1
        found.append(Block(relpath, m.group('lang').lower(), start + 1, lines[start + 1:j],
                           markers, closed=j < len(lines)))
        i = j + 1
    return found


def fence_problems(relpath: str) -> List[str]:
    """Unclosed fences, and markers the convention does not know (e.g. a skip without a
    reason) or put before a block they do not apply to."""
    problems = [f'{b.where}: the ```{b.lang} fence is never closed'
                for b in blocks(relpath) if not b.closed]
    for n, line in enumerate(read(relpath), 1):
        m = MARKER.match(line)
        if m and not SKIP.match(m.group('body')):
            problems.append(f'{relpath}:{n}: unknown marker {line.strip()!r}; the only marker '
                            'is <!-- test: skip (reason) --> before a ```python block')
    for block in blocks(relpath):
        if block.markers and block.lang not in PYTHON_LANGS:
            problems.append(f'{block.where}: a test marker before a ```{block.lang or "(none)"}'
                            ' block; only ```python blocks can be skipped (shell commands are '
                            'always checked)')
    return problems


def prose_lines(relpath: str) -> List[Tuple[int, str]]:
    """(line number, text) of the lines outside fenced blocks."""
    lines = read(relpath)
    inside = set()
    for block in blocks(relpath):
        inside.update(range(block.fence_line, block.first_line + len(block.lines) + 1))
    return [(n, line) for n, line in enumerate(lines, 1) if n not in inside]


# ----------------------------------------------------------------- commands in shell blocks
@dataclass
class Command:
    file: str
    line: int          # 1-based line of the command's first physical line
    text: str          # the logical line as written (continuations joined)
    argv: List[str]    # one simple command, variables of the block substituted

    @property
    def where(self) -> str:
        return f'{self.file}:{self.line}'


VAR_REF = re.compile(r'\$(?:\{(\w+)\}|(\w+))')
ASSIGNMENT = re.compile(r'^[A-Za-z_]\w*=')
OPERATORS = {'&&', '||', ';', '|', '&', ';;', '(', ')'}


def logical_lines(block: Block) -> List[Tuple[int, str]]:
    """Lines of a shell block with backslash continuations joined and prompts (``$ ``)
    removed; in ```console blocks only the prompted lines are commands."""
    out, pending, start = [], '', None
    for offset, raw in enumerate(block.lines):
        line = raw.rstrip()
        if pending == '':
            stripped = line.lstrip()
            if stripped.startswith('$ '):
                line = stripped[2:]
            elif block.lang == 'console':
                continue
            start = block.first_line + offset
        if pending:
            line = line.lstrip()
        if line.endswith('\\'):
            pending += line[:-1].rstrip() + ' '
            continue
        out.append((start, pending + line))
        pending = ''
    if pending:
        out.append((start, pending))
    return out


def split_words(text: str) -> List[str]:
    lex = shlex.shlex(text, posix=True, punctuation_chars=';&|()<>')
    lex.whitespace_split = True
    lex.commenters = '#'
    return list(lex)


def expand_braces(word: str) -> List[str]:
    """``a{b,c}d`` -> ``abd``, ``acd`` (the shell's brace expansion, enough for paths)."""
    m = re.search(r'\{([^{}]*,[^{}]*)\}', word)
    if not m:
        return [word]
    return [w for part in m.group(1).split(',')
            for w in expand_braces(word[:m.start()] + part + word[m.end():])]


def commands(block: Block) -> List[Command]:
    """The simple commands of a shell block (split at ``&&``, ``;``, ``|``), with the
    variables the block assigns itself (``M=...`` on a line of its own) substituted."""
    variables: Dict[str, str] = {}
    found = []
    for line, text in logical_lines(block):
        if not text.strip() or text.lstrip().startswith('#'):
            continue
        substituted = VAR_REF.sub(
            lambda m: variables.get(m.group(1) or m.group(2), m.group(0)), text)
        try:
            words = split_words(substituted)
        except ValueError:          # unbalanced quotes: output, not a command
            continue
        current: List[str] = []
        for word in words + [';']:
            if word in OPERATORS or set(word) <= set(';&|<>()'):
                if current:
                    if all(ASSIGNMENT.match(w) for w in current):
                        for w in current:
                            name, value = w.split('=', 1)
                            variables[name] = value
                    else:
                        found.append(Command(block.file, line, text.strip(), current))
                current = []
            else:
                current.append(word)
    return found


def shell_commands(relpath: str) -> List[Command]:
    return [c for b in blocks(relpath) if b.lang in SHELL_LANGS for c in commands(b)]


# A command the docs tests check, wherever it is written.
CHECKED_COMMAND = re.compile(
    r'^\s*(?:\$ )?(?:[A-Za-z_]\w*=\S*\s+)*(?:nice(?:\s+-n\s*\d+)?\s+)?'
    r'(?:(?:\S*/)?python3?\s+(?:-m\s+\S+|\S+\.py)|mim\s+\w+|make\s+\w'
    r'|(?:bash\s+)?\S*tools/\S+\.(?:sh|py))')


def unchecked_commands(relpath: str) -> List[str]:
    """Commands outside the checked blocks: in fences of another language (```text, no
    language) or in indented code blocks. They are not tested, so they are not allowed."""
    problems = []
    for block in blocks(relpath):
        if block.lang in SHELL_LANGS or block.lang in PYTHON_LANGS:
            continue
        for offset, line in enumerate(block.lines):
            if CHECKED_COMMAND.match(line):
                problems.append(f'{block.file}:{block.first_line + offset}: a command in a '
                                f'```{block.lang or "(no language)"} block, which is not '
                                f'checked; write it in a ```bash block: {line.strip()}')
    previous_blank = True
    in_code = False
    for n, line in prose_lines(relpath):
        indented = line.startswith('    ') and line.strip()
        in_code = bool(indented and (previous_blank or in_code))
        if in_code and CHECKED_COMMAND.match(line.strip()):
            problems.append(f'{relpath}:{n}: a command in an indented code block, which is not '
                            f'checked; write it in a ```bash block: {line.strip()}')
        previous_blank = not line.strip()
    return problems


# ----------------------------------------------------------------- links and headings
LINK = re.compile(r'!?\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)(?:\s+"[^"]*")?\)')
CODE_SPAN = re.compile(r'(`+)(?:(?!\1).)+?\1')


def github_slug(text: str) -> str:
    """The anchor GitHub gives a heading: markup removed, lower case, punctuation other
    than ``-`` and ``_`` dropped, spaces to hyphens."""
    text = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', text)   # links -> their text
    text = text.replace('`', '').replace('*', '')
    text = re.sub(r'<[^>]+>', '', text)
    text = re.sub(r'[^\w\- ]', '', text.strip().lower())
    return text.replace(' ', '-')


def anchors(relpath: str) -> set:
    seen: Dict[str, int] = {}
    out = set()
    for _, line in prose_lines(relpath):
        m = HEADING.match(line)
        if not m:
            continue
        slug = github_slug(m.group('text'))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.add(slug if count == 0 else f'{slug}-{count}')
    for _, line in prose_lines(relpath):       # explicit <a name="..."> / id="..."
        out.update(re.findall(r'<a\s+(?:name|id)="([^"]+)"', line))
    return out


def links(relpath: str) -> List[Tuple[int, str]]:
    """(line, target) of the markdown links and images outside code."""
    out = []
    for n, line in prose_lines(relpath):
        line = re.sub(r'<!--.*?-->', '', CODE_SPAN.sub('', line))   # code and comments
        for m in LINK.finditer(line):
            out.append((n, m.group('target')))
    return out
