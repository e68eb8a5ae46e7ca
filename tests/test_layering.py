"""The packages of `shared/` import downward only, in the order shared/README.md gives."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

SHARED = ROOT / "shared"

# Lowest first. A module may import its own layer and the layers before it, nothing after.
LAYERS = [
    {"config", "timefmt"},  # modules at the root of shared/: settings, time
    {"platform"},
    {"keap"},
    {"store"},
    {"rpc"},
    {"sync"},
    {"webhooks"},
    {"coordinator"},
    {"web"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def part_of(module: str) -> str:
    """`shared.keap.client` -> `keap`; `shared.config` -> `config`."""
    return module.split(".")[1]


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return [(line, name) for line, name in found if name.startswith("shared.")]


def test_every_part_of_shared_has_a_layer() -> None:
    parts = {p.stem if p.is_file() else p.name for p in SHARED.iterdir()}
    parts -= {"__init__", "__pycache__", "README"}
    assert parts == set(RANK), "add the new part to LAYERS and to shared/README.md"


def test_shared_imports_downward_only() -> None:
    against = []
    for path in sorted(SHARED.rglob("*.py")):
        source = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if source == "shared.__init__":
            continue
        for line, target in imported_modules(path):
            if RANK[part_of(target)] > RANK[part_of(source)]:
                against.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert against == [], "imports against the layering:\n" + "\n".join(against)


def test_the_layering_is_written_down() -> None:
    readme = (SHARED / "README.md").read_text()
    for names in LAYERS:
        for name in names:
            assert f"`{name}`" in readme, name
