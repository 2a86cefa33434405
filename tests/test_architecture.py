"""The import graph of src/attnlab, read with `ast`: each folder is one floor and imports point only down.

Every `import` counts, at module top and inside functions alike (a function-level import is still a
dependency; it only runs later). Relative imports are resolved against the importing module.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "src" / "attnlab"

# The floors, lowest first. A module may import its own floor and any floor below it, never above.
# The ground floor is a set of loose modules; every other floor is a folder or one loose module.
FLOORS = [
    ("ground", ["config", "io", "device", "distributed", "generate", "errors", "explanation"]),
    ("runtime", ["runtime"]),
    ("model", ["model"]),
    ("fast", ["fast"]),  # speed behind one seam: the model does not know it
    ("tokenizers", ["tokenizers"]),
    ("look", ["look"]),
    ("why", ["why"]),
    ("viz", ["viz"]),
    ("runs", ["runs"]),
    ("train", ["train"]),
    ("labs", ["labs"]),
    ("interop", ["interop"]),
    ("sources", ["sources"]),
    ("serve", ["serve"]),
    ("cli", ["cli"]),
    # The package's front door (its lazy public API) and `python -m attnlab` stand above everything.
    ("front", ["__init__", "__main__"]),
]
FLOOR_OF = {top: level for level, (_, tops) in enumerate(FLOORS) for top in tops}
MAX_LOOSE_MODULES = 8


def module_name(path: Path) -> str:
    """src/attnlab/model/gpt.py -> "attnlab.model.gpt"; a package's __init__.py names the package."""
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def import_nodes(tree: ast.AST, at_import_only: bool) -> list[ast.Import | ast.ImportFrom]:
    """The import statements of a module: all of them, or (at_import_only) those that run when the
    module is imported: not inside a function, not under `if TYPE_CHECKING:`."""
    found = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif at_import_only and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        elif at_import_only and isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            found += import_nodes(ast.Module(body=node.orelse, type_ignores=[]), at_import_only)
        else:
            found += import_nodes(node, at_import_only)
    return found


def imported_names(path: Path, name: str, modules: dict[str, Path], at_import_only: bool = False) -> set[str]:
    """What `path` (the module `name`) imports: attnlab modules by their full names, anything else by
    its top-level package ("torch" for `import torch.nn`)."""
    is_package = path.name == "__init__.py"
    root = name.split(".")[0]
    found = set()
    for node in import_nodes(ast.parse(path.read_text(encoding="utf-8")), at_import_only):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                # `from . import x` inside a/b/c.py starts at package a.b; inside a/b/__init__.py too.
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import sub` imports the module pkg.sub; `from pkg import name` imports pkg.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        for target in targets:
            if target.split(".")[0] != root:
                found.add(target.split(".")[0])
            elif target in modules and target != name:
                found.add(target)
    return found


def import_graph(at_import_only: bool = False) -> dict[str, set[str]]:
    """attnlab module -> the attnlab modules it imports."""
    modules = all_modules()
    return {name: {t for t in imported_names(path, name, modules, at_import_only) if t in modules}
            for name, path in modules.items()}


def heavy_at_import() -> dict[str, list[str]]:
    """attnlab module -> a chain of imports, run when it is imported, that loads torch or matplotlib
    (absent: it loads neither). Importing a.b.c runs a/__init__.py and a/b/__init__.py too."""
    modules = all_modules()
    direct = {}
    for name, path in modules.items():
        targets = imported_names(path, name, modules, at_import_only=True)
        parents = {".".join(t.split(".")[:i]) for t in targets & set(modules) for i in range(2, t.count(".") + 1)}
        direct[name] = targets | (parents - {name})
    chains: dict[str, list[str]] = {}

    def chain(name: str) -> list[str]:
        if name not in chains:
            chains[name] = []  # a cycle back to here finds nothing new
            heavy = sorted(direct[name] & set(HEAVY))
            if heavy:
                chains[name] = [name, heavy[0]]
            for target in sorted(direct[name] & set(modules)):
                if not chains[name] and chain(target):
                    chains[name] = [name, *chain(target)]
        return chains[name]

    return {name: chain(name) for name in modules if chain(name)}


def floor(name: str) -> int:
    """attnlab.model.gpt -> the model floor; "attnlab" itself is the front door."""
    parts = name.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    if top not in FLOOR_OF:
        raise AssertionError(f"{name} is on no floor: add its top-level name to FLOORS in this test")
    return FLOOR_OF[top]


def floor_name(name: str) -> str:
    return FLOORS[floor(name)][0]


def edges(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((source, target) for source, targets in graph.items() for target in targets)


def report(title: str, bad: list[tuple[str, str]]) -> str:
    lines = [f"  {source} -> {target}   ({floor_name(source)} imports {floor_name(target)})" for source, target in bad]
    return f"{title} ({len(bad)}):\n" + "\n".join(lines)


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


# ---------------------------------------------------------------------------------------------------------------
# The reader itself, on small hand-made packages (an independent check of what the graph tests rely on).


def write_package(root: Path, files: dict[str, str]) -> dict[str, Path]:
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text, encoding="utf-8")
    return {".".join(Path(r).with_suffix("").parts).removesuffix(".__init__"): root / r for r in files}


def test_reader_resolves_relative_function_level_and_from_imports(tmp_path):
    modules = write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "",
        "pkg/sub/__init__.py": "from . import b\n",
        "pkg/sub/b.py": "from ..a import thing\n\ndef f():\n    import pkg.sub.c\n",
        "pkg/sub/c.py": "from pkg.sub import b, not_a_module\nimport os\n",
    })
    graph = {name: imported_names(path, name, modules) for name, path in modules.items()}
    assert graph["pkg.sub"] == {"pkg.sub.b"}
    assert graph["pkg.sub.b"] == {"pkg.a", "pkg.sub.c"}
    assert graph["pkg.sub.c"] == {"pkg.sub", "pkg.sub.b", "os"}
    assert find_cycles(graph) == [["pkg.sub", "pkg.sub.b", "pkg.sub.c"]]


def test_every_module_is_on_a_floor():
    for name in all_modules():
        floor(name)


def test_every_folder_of_modules_is_a_package():
    # A folder without __init__.py is a namespace package: it imports, but hides from this reader.
    folders = {path.parent for path in PACKAGE_DIR.rglob("*.py")}
    assert sorted(str(f) for f in folders if not (f / "__init__.py").exists()) == []


# ---------------------------------------------------------------------------------------------------------------
# The rules.


def test_no_import_cycles():
    graph = import_graph()
    cycles = find_cycles(graph)
    lines = []
    for cycle in cycles:
        lines.append("  " + " <-> ".join(cycle) + ", through:")
        lines += [f"      {s} -> {t}" for s in cycle for t in sorted(graph[s]) if t in cycle]
    assert not cycles, "import cycles:\n" + "\n".join(lines)


def test_imports_point_only_down_the_floors():
    bad = [(source, target) for source, target in edges(import_graph()) if floor(target) > floor(source)]
    assert not bad, report("imports pointing up the floors " + " < ".join(n for n, _ in FLOORS), bad)


def test_serve_never_imports_cli():
    bad = [(s, t) for s, t in edges(import_graph()) if floor_name(s) == "serve" and floor_name(t) == "cli"]
    assert not bad, report("serve/ imports cli/", bad)


def test_model_imports_only_the_ground_floor_and_itself():
    allowed = {"ground", "model"}
    bad = [(s, t) for s, t in edges(import_graph()) if floor_name(s) == "model" and floor_name(t) not in allowed]
    assert not bad, report("model/ imports above itself", bad)


def test_viz_renders_data_and_never_imports_models_look_or_why():
    forbidden = {"model", "look", "why"}
    bad = [(s, t) for s, t in edges(import_graph()) if floor_name(s) == "viz" and floor_name(t) in forbidden]
    assert not bad, report("viz/ imports a model, look/ or why/", bad)


def test_few_modules_loose_in_the_package():
    loose = sorted(p.name for p in PACKAGE_DIR.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert len(loose) <= MAX_LOOSE_MODULES, f"{len(loose)} loose modules in src/attnlab: {loose}"


# ---------------------------------------------------------------------------------------------------------------
# Start-up: the command line's parser and --help import neither torch nor matplotlib.

HEAVY = ("torch", "matplotlib")
# Run before the code under test: remembers where in attnlab each heavy module was first imported
# from (a finder that finds nothing, asked first about every import), and reports it at the end.
SPY = """
import sys, traceback
first = {}
class Spy:
    def find_spec(self, name, path=None, target=None):
        if name in HEAVY and name not in first:
            first[name] = [f"{f.filename.split('/src/')[-1]}:{f.lineno}" for f in traceback.extract_stack()
                           if "/attnlab/" in f.filename]
sys.meta_path.insert(0, Spy())
"""
REPORT = """
heavy = {name: first.get(name, []) for name in HEAVY if name in sys.modules}
print("HEAVY=" + repr(heavy))
"""


def heavy_modules_after(code: str) -> list[str]:
    """The heavy modules in sys.modules after `code` ran in a fresh interpreter, each with the
    attnlab lines (outermost first) whose import brought it in."""
    script = f"HEAVY = {HEAVY!r}\n{SPY}\n{code}\n{REPORT}"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    line = [line for line in result.stdout.splitlines() if line.startswith("HEAVY=")][-1]
    heavy = ast.literal_eval(line.removeprefix("HEAVY="))
    return [f"{name}, imported from {' -> '.join(where)}" for name, where in heavy.items()]


def test_cli_and_the_front_door_load_nothing_heavy_when_imported():
    # Read from the source: every offending module at once (the subprocess checks below find
    # only the first import of torch, and only for what they run).
    heavy = {name: chain for name, chain in heavy_at_import().items() if floor_name(name) in ("cli", "front")}
    assert not heavy, "modules that load torch or matplotlib when imported:\n" + "\n".join(
        f"  {name}: {' -> '.join(chain)}" for name, chain in sorted(heavy.items()))


def test_heavy_chains_follow_top_level_imports_and_parent_packages(tmp_path):
    modules = write_package(tmp_path, {
        "attnlab/__init__.py": "",
        "attnlab/light.py": "def f():\n    import torch\n",
        "attnlab/typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\n",
        "attnlab/pkg/__init__.py": "import matplotlib.figure\n",
        "attnlab/pkg/leaf.py": "",
        "attnlab/user.py": "from attnlab.pkg.leaf import x\n",
    })
    direct = {name: imported_names(path, name, modules, at_import_only=True) for name, path in modules.items()}
    assert direct["attnlab.light"] == set() and direct["attnlab.typed"] == {"typing"}
    assert direct["attnlab.pkg"] == {"matplotlib"} and direct["attnlab.user"] == {"attnlab.pkg.leaf"}


def assert_light(code: str) -> None:
    heavy = heavy_modules_after(code)
    assert not heavy, "heavy modules imported:\n  " + "\n  ".join(heavy)


def test_import_attnlab_is_light():
    assert_light("import attnlab")


def test_building_the_parser_is_light():
    assert_light("import attnlab.cli\nattnlab.cli.build_parser()")


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["induction", "--help"]])
def test_help_is_light(argv):
    # main() exits through SystemExit on --help; the report runs after it, in the same interpreter.
    code = (
        "import attnlab.cli\n"
        "try:\n"
        f"    attnlab.cli.main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
    )
    assert_light(code)


def test_every_subcommand_help_is_light():
    # One fresh interpreter prints every subcommand's --help in turn (each exits through SystemExit).
    code = (
        "import contextlib, io, attnlab.cli\n"
        "for name in attnlab.cli.COMMANDS:\n"
        "    with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "        try:\n"
        "            attnlab.cli.main([name, '--help'])\n"
        "        except SystemExit:\n"
        "            pass\n"
        "    assert 'usage: attnlab ' + name in out.getvalue(), name\n"
    )
    assert_light(code)


def test_attnlab_help_as_a_command_is_light():
    # `python -m attnlab` is the `attnlab` command (the console script calls the same entry_point);
    # -X importtime names every module the interpreter imports.
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "attnlab", "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "usage: attnlab" in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "attnlab.cli" in imported
    assert sorted(name for name in HEAVY if name in imported) == [], "test_help_is_light says where from"


MAX_FUNCTION_LINES = 50


def test_no_function_is_longer_than_fifty_lines():
    """A function a reader takes in at once: no def (method, nested function) over 50 lines."""
    long = []
    for name, path in all_modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name} ({lines} lines)")
    assert long == []


REFERENCE = ["model/attention.py", "model/block.py", "model/gpt.py"]
PRIVATE = ("torch._", "_forward_hooks", "_global_forward_hooks", "_version", "__wrapped__")


def test_the_reference_model_reads_like_the_notes():
    """model/ uses no private PyTorch API and no other module's internals (the speed lives in
    fast/), and the three files a learner reads after the notes stay under 500 lines together."""
    for path in sorted((PACKAGE_DIR / "model").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert [word for word in PRIVATE if word in text] == [], path.name
    assert not (PACKAGE_DIR / "model" / "decode.py").exists()
    assert sum(len((PACKAGE_DIR / name).read_text(encoding="utf-8").splitlines()) for name in REFERENCE) < 500
