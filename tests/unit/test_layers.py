"""Imports run one way (docs/architecture.md, "Layers"): a lower layer never imports a higher one.

Walks every module of ``connector/`` and ``dagster_defs/`` with ``ast`` (module-level and
function-level imports alike) and fails naming the file and the import that runs upward or
sideways.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Rank of each room: a module may import its own room and rooms of a lower rank only.
BASE = ("connector.model", "connector.jsontext", "connector.errors", "connector.config")
PARTS = ("connector.sources", "connector.normalize", "connector.warehouse")
RANKS: dict[str, int] = {
    **dict.fromkeys(BASE, 0),
    "connector.tables": 0,
    **dict.fromkeys(PARTS, 1),
    "connector.flows": 2,
    "connector.emulator": 3,
    "connector.console": 3,
    "connector.checkup": 3,
    "connector.demo": 4,
    "connector.cli": 5,
    "connector.__main__": 6,
    "dagster_defs": 4,
}
# Third-party packages each room must not touch (the I/O edges of docs/architecture.md).
FORBIDDEN: dict[str, set[str]] = {
    "connector": {"dagster"},
    "connector.normalize": {"httpx", "psycopg", "sqlalchemy", "pandas", "dagster"},
    "connector.sources": {"psycopg", "sqlalchemy", "pandas"},
    "connector.warehouse": {"httpx"},
    "connector.model": {"httpx", "psycopg", "sqlalchemy"},
    "connector.jsontext": {"httpx", "psycopg", "sqlalchemy"},
}


def _room(module: str) -> str | None:
    best = None
    for room in RANKS:
        if (module == room or module.startswith(room + ".")) and (
            best is None or len(room) > len(best)
        ):
            best = room
    return best


def _modules() -> list[tuple[str, Path]]:
    found = []
    for top in ("connector", "dagster_defs"):
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found.append((".".join(parts), path))
    return found


def _imports(path: Path, module: str) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against the package
                base = module.split(".")[: -node.level or None]
                names.append(".".join([*base, node.module or ""]).rstrip("."))
            elif node.module:
                names.append(node.module)
    return names


def _violations(module: str, imported: str) -> str | None:
    here, there = _room(module), _room(imported)
    if here is None:
        return f"{module} is in no room of the layer map"
    top = imported.split(".")[0]
    for room, banned in FORBIDDEN.items():
        if (module == room or module.startswith(room + ".")) and top in banned:
            return f"{module} imports {imported}: {room} must not use {top}"
    if there is None or there == here:
        return None
    # The shared base (values, JSON text, errors, settings, table shapes) may use itself.
    if RANKS[there] > RANKS[here] or (RANKS[there] == RANKS[here] and RANKS[here] > 0):
        kind = "sideways" if RANKS[there] == RANKS[here] else "upward"
        return f"{module} imports {imported} ({kind}: {here} -> {there})"
    if there == "connector.emulator" and here not in ("connector.demo", "connector.cli"):
        return f"{module} imports the emulator: only the CLI and the demo may"
    return None


def test_imports_run_one_way() -> None:
    problems = [
        problem
        for module, path in _modules()
        for imported in _imports(path, module)
        if (problem := _violations(module, imported))
    ]
    assert problems == []


@pytest.mark.parametrize(
    ("module", "imported"),
    [
        ("connector.sources.traede.client", "connector.warehouse.outbox"),
        ("connector.warehouse.loader", "connector.normalize.common"),
        ("connector.normalize.xero", "connector.flows.cursor"),
        ("connector.model", "connector.warehouse.outbox"),
        ("connector.flows.traede", "connector.cli"),
        ("connector.flows.traede", "connector.emulator.traede"),
        ("connector.normalize.common", "psycopg"),
        ("connector.warehouse.merge", "dagster"),
    ],
)
def test_an_upward_or_sideways_import_is_caught(module: str, imported: str) -> None:
    assert _violations(module, imported) is not None


def test_normalize_reads_no_clock() -> None:
    for path in (ROOT / "connector" / "normalize").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in {"now", "utcnow", "today"}:
                pytest.fail(f"{path.name} reads the clock")
