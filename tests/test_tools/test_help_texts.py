"""Every Python tool under tools/ answers ``--help`` with text that reads whole: a description
that is not its docstring's first paragraph cut short (e.g. at the first line of a sentence),
and no "see above" pointing at text that --help does not show."""
import glob
import os.path as osp
import re

import pytest

from helpers import REPO, load_tool

TOOLS = sorted(osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'tools', '**', '*.py'),
                                                       recursive=True)
               if re.search(r'^def main\(argv', open(p).read(), re.M))


def help_text(tool, capsys):
    module = load_tool(tool)
    with pytest.raises(SystemExit) as exit_info:
        module.main(['--help'])
    assert exit_info.value.code in (0, None)
    return module.__doc__ or '', capsys.readouterr().out


def words(text):
    return ' '.join(text.split())


def test_the_tools_are_found():
    for tool in ('tools/test.py', 'tools/model_converters/sequencer_to_mmseq.py',
                 'tools/analysis/resolution.py'):
        assert tool in TOOLS


@pytest.mark.parametrize('tool', TOOLS)
def test_help_reads_whole(tool, capsys):
    doc, text = help_text(tool, capsys)
    assert 'see above' not in words(text).lower()
    # the description: after the usage lines, before the first list of arguments
    body = text.split('\n\n', 1)[1]
    description = words(re.split(r'^(?:positional arguments|options|optional arguments):$',
                                 body, maxsplit=1, flags=re.M)[0])
    assert description, f'{tool}: no description'
    paragraph = words(doc.strip().split('\n\n')[0])
    assert not (paragraph.startswith(description) and len(description) < len(paragraph)), \
        f'{tool}: the description stops at {description[-60:]!r}'
