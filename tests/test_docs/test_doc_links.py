"""Every relative link and image of README.md and docs/*.md points to an existing file, and a
``#fragment`` to a heading of that file (GitHub's anchors)."""
import os.path as osp
from urllib.parse import unquote

import pytest

from markdown_docs import REPO, anchors, doc_files, links

EXTERNAL = ('http://', 'https://', 'mailto:', 'ftp://')


def link_problems(relpath):
    problems = []
    for line, target in links(relpath):
        if target.startswith(EXTERNAL):
            continue
        path, _, fragment = target.partition('#')
        path = unquote(path)
        if path.startswith('/'):
            problems.append(f'{relpath}:{line}: ({target}) is absolute; use a relative link')
            continue
        file = osp.normpath(osp.join(osp.dirname(relpath), path)) if path else relpath
        if not osp.exists(osp.join(REPO, file)):
            problems.append(f'{relpath}:{line}: ({target}) -> {file} does not exist')
        elif fragment and file.endswith('.md') and fragment not in anchors(file):
            problems.append(f'{relpath}:{line}: ({target}) -> {file} has no heading '
                            f'#{fragment}')
    return problems


@pytest.mark.parametrize('relpath', doc_files())
def test_relative_links_resolve(relpath):
    problems = link_problems(relpath)
    if problems:
        pytest.fail('\n'.join(problems), pytrace=False)


def test_docs_index_lists_every_page():
    """docs/README.md, the docs index, links every page in docs/."""
    index = 'docs/README.md'
    linked = {osp.normpath(osp.join('docs', target.partition('#')[0]))
              for _, target in links(index) if not target.startswith(EXTERNAL)}
    pages = {p for p in doc_files() if p.startswith('docs/') and p != index}
    missing = sorted(pages - linked)
    assert not missing, f'{index} does not list: {", ".join(missing)}'
