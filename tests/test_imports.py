"""wnet_tf's modules import one another without a circle, counting every import: at the top of a
module and inside functions (a function-level import still ties the two modules together)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "wnet_tf"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.Module, name: str, is_package: bool, modules: set) -> set:
    """The wnet_tf modules that `tree` (module `name`) imports anywhere in it. `from a import b`
    counts a.b when that is a module, else a; relative imports are resolved."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")[: len(name.split(".")) - node.level + is_package]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            # `import a.b.c` imports a and a.b too, but a package's __init__ importing nothing
            # of its own modules adds no edge back; the deepest module named is the dependency.
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imported(ast.parse(p.read_text(), str(p)), module_name(p),
                                     p.name == "__init__.py", modules)
            for p in paths}


def find_cycle(graph: dict):
    """One cycle as a list of modules (first == last), or None."""
    state = {}  # absent: unvisited; 1: on the current path; 2: done

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [node, nxt] if nxt in path else [node, nxt]
            if nxt not in state:
                cycle = visit(nxt, path + [node])
                if cycle:
                    return cycle
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node, [])
            if cycle:
                return cycle
    return None


def test_the_graph_is_read_whole():
    graph = import_graph()
    assert "wnet_tf.config" in graph["wnet_tf.data"]  # a module-level import
    assert "wnet_tf.entry" in graph["wnet_tf.train"]  # one inside `if __name__ == ...`
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_module_imports_itself_through_others():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)
