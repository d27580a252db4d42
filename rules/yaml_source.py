"""Where a key stands in a YAML file, so a configuration or rules problem can name its line.

Problems name the key they are about as a dotted path at their start (`ledger.retention_days must
be ...`, `customers.acme.actions.PERSON must be ...`); the line of the longest such path found in
the file is the problem's line."""

from __future__ import annotations

import re
from collections.abc import Iterable

import yaml

_PATH = re.compile(r"[A-Za-z_][\w-]*(?:\.[^\s.:,;'\"]+)*")


def key_lines(text: str) -> dict[str, int]:
    """Dotted key path -> 1-based line of the key, for every mapping key in the document."""
    lines: dict[str, int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines

    def walk(node: yaml.Node, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = f"{prefix}.{key.value}" if prefix else str(key.value)
                lines.setdefault(name, key.start_mark.line + 1)
                walk(value, name)

    if root is not None:
        walk(root, "")
    return lines


def line_of(problem: str, lines: dict[str, int]) -> int | None:
    match = _PATH.match(problem)
    if match is None:
        return None
    parts = match.group(0).split(".")
    for end in range(len(parts), 0, -1):
        found = lines.get(".".join(parts[:end]))
        if found is not None:
            return found
    return None


def located(problems: Iterable[str], source: str, text: str) -> list[str]:
    """`file:line: problem` (or `file: problem` when no key names it) for each problem."""
    lines = key_lines(text)
    out = []
    for problem in problems:
        line = line_of(problem, lines)
        out.append(f"{source}:{line}: {problem}" if line else f"{source}: {problem}")
    return out


def syntax_problem(source: str, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "not valid YAML"
    if mark is not None:
        return f"{source}:{mark.line + 1}: not valid YAML ({problem}, column {mark.column + 1})"
    return f"{source}: not valid YAML ({problem})"
