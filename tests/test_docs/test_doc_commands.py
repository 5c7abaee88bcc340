"""Every command in a shell block of README.md and docs/*.md names files that exist and
passes arguments that the receiving tool's own parser accepts (see command_checks.py).

The commands are read from the files when the tests are collected, so whatever the docs hold
is checked; each test id is ``FILE:LINE``. Commands that need a GPU cluster or data sets are
checked the same way: nothing is run.
"""
import pytest

from command_checks import is_checked, problems_of
from markdown_docs import doc_files, fence_problems, shell_commands, unchecked_commands

COMMANDS = [c for f in doc_files() for c in shell_commands(f) if is_checked(c)]


@pytest.mark.parametrize('cmd', COMMANDS, ids=[c.where for c in COMMANDS])
def test_documented_command(cmd):
    problems = problems_of(cmd)
    if problems:
        pytest.fail(f'{cmd.where}: {cmd.text}\n' + '\n'.join(f'  - {p}' for p in problems),
                    pytrace=False)


def test_the_docs_have_commands():
    """The reader finds the commands at all (a broken fence parser would pass vacuously)."""
    files = doc_files()
    assert 'README.md' in files and len(files) > 3, files
    assert len(COMMANDS) > 20, [c.where for c in COMMANDS]


@pytest.mark.parametrize('relpath', doc_files())
def test_no_unchecked_commands(relpath):
    """Commands sit in ```bash blocks, where they are checked, not in ```text blocks or
    indented code."""
    problems = unchecked_commands(relpath)
    if problems:
        pytest.fail('\n'.join(problems), pytrace=False)


@pytest.mark.parametrize('relpath', doc_files())
def test_fences_and_markers(relpath):
    """Every fence is closed and every test marker is one the docs tests know."""
    problems = fence_problems(relpath)
    if problems:
        pytest.fail('\n'.join(problems), pytrace=False)
