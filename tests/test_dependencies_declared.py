"""pyproject.toml tells the truth: every third-party package the code imports is declared.

The service's packages (proxy/, rules/, models/) may use only the runtime dependencies; tests/ and
benchmarks/ may also use the `test` extra. A package that happens to be installed because another
dependency pulls it in still has to be declared when our code imports it directly.
"""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_DIRS = ("proxy", "rules", "models")
TEST_DIRS = ("tests", "benchmarks")
# Calls whose constant first argument names a module: importlib.import_module("x"),
# importlib.resources.files("x") (e.g. a package read only for its bundled data).
MODULE_NAMING_CALLS = frozenset({"import_module", "files", "__import__"})


def normalize(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, f"cannot read a distribution name from {requirement!r}"
    return normalize(match.group(1))


def declared() -> tuple[set[str], set[str], str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    runtime = {requirement_name(r) for r in project.get("dependencies", [])}
    test = {requirement_name(r) for r in project.get("optional-dependencies", {}).get("test", [])}
    return runtime, test, normalize(project["name"])


def local_modules() -> set[str]:
    """Top-level names that are this repository's own code, not third-party packages."""
    return {
        p.stem if p.suffix == ".py" else p.name
        for p in ROOT.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"
    }


def imported_modules(source: str) -> set[str]:
    """Dotted names of every absolute import in `source` (also imports inside functions), plus
    modules named by a constant argument to import_module()/resources.files()."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            # `from google import genai` imports the google.genai package
            found.update(f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            first = node.args[0]
            if (
                name in MODULE_NAMING_CALLS
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", first.value)
            ):
                found.add(first.value)
    return found


def imports_under(dirs: Iterable[str]) -> dict[str, set[str]]:
    """Dotted module name -> the files (relative paths) importing it."""
    where: dict[str, set[str]] = {}
    for folder in dirs:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for module in imported_modules(path.read_text("utf-8")):
                where.setdefault(module, set()).add(str(path.relative_to(ROOT)))
    return where


@cache
def _distribution_files(distribution: str) -> frozenset[str]:
    return frozenset(str(f) for f in metadata.distribution(distribution).files or ())


def distributions_for(module: str, top_level: Mapping[str, list[str]]) -> set[str]:
    """The installed distributions that provide `module` (empty: not installed at all)."""
    parts = module.split(".")
    candidates = {normalize(d) for d in top_level.get(parts[0], ())}
    if len(candidates) <= 1 or len(parts) == 1:
        return candidates
    # A namespace package (google.*) is shared by several distributions: find which one ships
    # the imported subpackage.
    prefix = "/".join(parts[:2])
    providing = {
        d
        for d in candidates
        if any(f == f"{prefix}.py" or f.startswith(f"{prefix}/") for f in _distribution_files(d))
    }
    return providing or candidates


def undeclared(
    imports: Mapping[str, set[str]],
    allowed: set[str],
    local: set[str],
    top_level: Mapping[str, list[str]],
    project: str,
) -> list[str]:
    """One line per missing distribution (or unknown module), naming the first module seen and
    where it is imported."""
    missing: dict[tuple[str, ...], tuple[str, set[str]]] = {}
    for module, files in sorted(imports.items()):
        top = module.split(".")[0]
        if top in sys.stdlib_module_names or top in local:
            continue
        dists = distributions_for(module, top_level)
        if project in dists or dists & allowed:
            continue
        key = tuple(sorted(dists)) or (f"?{module}",)
        missing.setdefault(key, (module, set()))[1].update(files)
    problems = []
    for key, (module, files) in missing.items():
        where = ", ".join(sorted(files)[:3])
        if key[0].startswith("?"):
            problems.append(f"{module} (in {where}) is provided by no installed distribution")
        else:
            problems.append(f"{module} (in {where}) comes from {list(key)}, which is not declared")
    return problems


def test_runtime_imports_are_runtime_dependencies() -> None:
    runtime, _, project = declared()
    problems = undeclared(
        imports_under(RUNTIME_DIRS), runtime, local_modules(), metadata.packages_distributions(), project
    )
    assert not problems, "declare in [project].dependencies:\n" + "\n".join(problems)


def test_test_and_benchmark_imports_are_declared() -> None:
    runtime, test, project = declared()
    problems = undeclared(
        imports_under(TEST_DIRS), runtime | test, local_modules(), metadata.packages_distributions(), project
    )
    assert not problems, "declare in [project.optional-dependencies].test:\n" + "\n".join(problems)


def test_the_check_catches_an_undeclared_import() -> None:
    """The checker itself: a service module importing a test-only or unknown package is reported."""
    runtime, _, project = declared()
    source = (
        "import os\n"
        "import aiohttp\n"
        "from proxy import detection\n"
        "def later():\n"
        "    import hypothesis.strategies\n"
        "    from google import genai\n"
        "import surely_not_an_installed_module_xyz\n"
    )
    imports = {module: {"proxy/example.py"} for module in imported_modules(source)}
    problems = undeclared(imports, runtime, local_modules(), metadata.packages_distributions(), project)
    flagged = {p.split(" ", 1)[0] for p in problems}
    assert {"hypothesis.strategies", "google.genai", "surely_not_an_installed_module_xyz"} <= flagged
    assert not flagged & {"os", "aiohttp", "proxy"}
    assert not any(m.startswith("proxy") for m in flagged)
