"""The runs service's layers import only inward: api (gRPC servicer) → app (use cases) → domain, with the store and
the clients as adapters behind the app layer's protocols. Checked on the source, import by import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

RUNS = Path(__file__).resolve().parents[2] / "services" / "runs"
ADAPTERS = ("services.runs.store", "services.runs.clients", "services.runs.executors", "services.runs.api")
DRIVERS = ("grpc", "google.protobuf", "google.rpc", "agentorch", "asyncpg", "sqlalchemy")
# What each layer must not import (a module or any module under it).
FORBIDDEN = {
    "api": ("services.runs.store",),
    "app": (*DRIVERS, *ADAPTERS),
    "domain": (*DRIVERS, *ADAPTERS, "services.runs.app", "services.runs.bootstrap"),
}


def imports(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def modules(layer: str) -> list[Path]:
    return sorted((RUNS / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", list(FORBIDDEN))
def test_a_layer_imports_nothing_outward(layer: str) -> None:
    assert modules(layer), f"no modules under services/runs/{layer}"
    offending = [
        f"{path.relative_to(RUNS)}: {name}"
        for path in modules(layer)
        for name in imports(path)
        if any(name == banned or name.startswith(f"{banned}.") for banned in FORBIDDEN[layer])
    ]
    assert offending == []
