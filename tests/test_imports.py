"""wnet_tf's modules import one another without a circle, counting every import: at the top of a
module and inside functions (a function-level import still ties the two modules together)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "wnet_tf"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.Module, name: str, is_package: bool, modules: set) -> set:
    """The wnet_tf modules that module `name` imports anywhere in its `tree`: `from a import b`
    names a.b when that is a module, else a; relative imports are resolved; an import of
    something inside a module (a.b.f) is an import of the module (a.b)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".")
                anchor = parts[:len(parts) - node.level + is_package]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict:
    """{module: the wnet_tf modules it imports} for every module of the package."""
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imported(ast.parse(p.read_text(), str(p)), module_name(p),
                                     p.name == "__init__.py", modules)
            for p in paths}


def find_cycle(graph: dict):
    """One cycle as a list of modules (the first again at the end), or None: a depth-first
    search that meets a module already on its own path."""
    done = set()

    def visit(node, path):
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        for following in sorted(graph.get(node, ())):
            cycle = visit(following, path + [node])
            if cycle:
                return cycle
        done.add(node)
        return None

    for node in sorted(graph):
        cycle = visit(node, [])
        if cycle:
            return cycle
    return None


def test_the_graph_is_read_whole():
    graph = import_graph()
    assert "wnet_tf.config" in graph["wnet_tf.data"]  # a module-level import
    assert "wnet_tf.entry" in graph["wnet_tf.train"]  # one inside `if __name__ == ...`
    assert "wnet_tf.training.jax_engine" in graph["wnet_tf.training.loop"]  # in a function
    assert "wnet_tf.data" in graph["wnet_tf.training.tf_engine"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_module_imports_itself_through_others():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)
