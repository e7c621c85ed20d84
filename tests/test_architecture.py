"""Keep the layering honest: the pure layers import only the standard library (+msgpack),
and SQL lives only in server/storage/."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parents[1] / "server"
PURE = ["protocol", "domain"]
ALLOWED_THIRD_PARTY = {"msgpack"}
# the C websocket masking function only (no I/O in it)
ALLOWED_MODULES = {"websockets.speedups"}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


@pytest.mark.parametrize("layer", PURE)
def test_pure_layers_do_no_io(layer: str) -> None:
    for path in (SERVER / layer).glob("*.py"):
        for name in imports(path):
            top = name.split(".")[0]
            if top == "server":
                assert name.startswith(("server.protocol", "server.domain", "server.settings")), \
                    f"{path.name} imports {name}"
                continue
            if name in ALLOWED_MODULES:
                continue
            assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY, \
                f"{path.name} imports {name}"
            assert top not in {"asyncio", "socket", "asyncpg", "redis"}, path.name


def test_sql_lives_in_storage_only() -> None:
    sql = re.compile(r"\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM)\b")
    offenders = []
    for path in SERVER.rglob("*.py"):
        rel = path.relative_to(SERVER).as_posix()
        if rel.startswith("storage/"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and sql.search(node.value) and "\n" not in node.value[:0]:
                offenders.append(rel)
    assert not offenders, f"SQL outside server/storage: {sorted(set(offenders))}"


def test_modules_stay_small() -> None:
    big = [(p.relative_to(SERVER).as_posix(), n) for p in SERVER.rglob("*.py")
           if (n := len(p.read_text().splitlines())) > 400]
    assert not big, big
