"""The package imports one way (tools -> configs -> registries -> models -> layers -> utils):
mmseq.utils is the bottom layer, every package imports only lower ones, no module is part of
an import cycle, and the tools import the installed package, never each other or a path of
their own.

The import graph is read from the source (nothing is imported); to print it::

    python tests/test_utils/test_import_layers.py
"""
import ast
import os
import os.path as osp
from typing import Dict, List, Optional, Set

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _module_names(package_dir: str) -> Dict[str, str]:
    """Dotted name -> file, for every module and package under ``package_dir``."""
    names = {}
    root = osp.dirname(package_dir)
    for folder, _, files in os.walk(package_dir):
        for f in files:
            if f.endswith('.py'):
                path = osp.join(folder, f)
                parts = osp.relpath(path, root)[:-len('.py')].split(os.sep)
                if parts[-1] == '__init__':
                    parts.pop()
                names['.'.join(parts)] = path
    return names


def _resolve(name: str, modules: Dict[str, str]) -> Optional[str]:
    """The module ``name`` is, or the nearest package holding it."""
    while name and name not in modules:
        name = name.rpartition('.')[0]
    return name or None


def _imports(module: str, path: str, modules: Dict[str, str]) -> Set[str]:
    package = module if path.endswith('__init__.py') else module.rpartition('.')[0]
    found = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                anchor = package.split('.')[:len(package.split('.')) - node.level + 1]
                base = '.'.join(anchor + ([base] if base else []))
            # ``from pkg import sub`` depends on the module pkg.sub only (as ``import pkg.sub``
            # does: parent packages are not counted), ``from pkg import attr`` on pkg.
            candidates = [f'{base}.{a.name}' for a in node.names]
        else:
            continue
        for name in candidates:
            target = _resolve(name, modules)
            if target is not None and target != module:
                found.add(target)
    return found


def import_graph(package_dir: str = osp.join(REPO, 'mmseq')) -> Dict[str, Set[str]]:
    """Module -> the package's modules it imports (also inside functions)."""
    modules = _module_names(package_dir)
    return {m: _imports(m, p, modules) for m, p in sorted(modules.items())}


def import_cycles(graph: Dict[str, Set[str]]) -> List[Set[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    cycles = []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(component)

    for v in graph:
        if v not in index:
            visit(v)
    return cycles


# Lowest first. A module imports its own package and packages of lower layers only; the root
# package's __init__ sits on top.
LAYERS = [('mmseq.utils', 'mmseq.version'), ('mmseq.registry', 'mmseq.testing'),
          ('mmseq.models', 'mmseq.datasets', 'mmseq.engine'), ('mmseq.apis', ), ('mmseq.analysis', 'mmseq.deployment'), ('mmseq', ),
          ('mmseq.cli', )]  # the mmseq-config command
RANK = {package: rank for rank, layer in enumerate(LAYERS) for package in layer}


def _package_of(module: str) -> str:
    owners = [p for p in RANK if module == p or (p != 'mmseq' and module.startswith(p + '.'))]
    assert owners, f'{module} belongs to no package of LAYERS: add its package there'
    return max(owners, key=len)


def test_each_layer_imports_only_lower_layers():
    for module, targets in import_graph().items():
        package = _package_of(module)
        for target in sorted(targets):
            other = _package_of(target)
            assert other == package or RANK[other] < RANK[package], \
                f'{module} imports {target}: {other} is not below {package}'


def test_no_import_cycles():
    cycles = import_cycles(import_graph())
    assert not cycles, f'import cycles: {cycles}'


def _tool_files(suffix):
    for root, _, files in os.walk(osp.join(REPO, 'tools')):
        yield from (osp.join(root, f) for f in sorted(files) if f.endswith(suffix))


def test_tools_are_thin():
    tool_names = {osp.splitext(osp.basename(p))[0] for p in _tool_files('.py')}
    for path in _tool_files('.py'):
        where = osp.relpath(path, REPO)
        tree = ast.parse(open(path).read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == 'path' and \
                    isinstance(node.value, ast.Name) and node.value.id == 'sys':
                raise AssertionError(f'{where}:{node.lineno} uses sys.path')
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module]
            else:
                continue
            imported_tools = [n for n in names if n.split('.')[0] in tool_names]
            assert not imported_tools, f'{where}:{node.lineno} imports {imported_tools}'
    for path in _tool_files('.sh'):
        assert 'PYTHONPATH' not in open(path).read(), osp.relpath(path, REPO)


if __name__ == '__main__':
    graph = import_graph()
    for module, targets in graph.items():
        print(f'{module}: {", ".join(sorted(targets)) or "-"}')
    cycles = import_cycles(graph)
    print('cycles:', [sorted(c) for c in cycles] or 'none')
