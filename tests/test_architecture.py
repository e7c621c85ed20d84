"""Keep the layering honest: arrows point one way (app/cli -> transport/http -> services ->
hub, kb -> protocol/domain and the adapters), no package cycles, the pure layers import only
the standard library (+msgpack), the broker is used through its interface, endpoints reach
the database only through services, and SQL lives only in server/storage/."""

from __future__ import annotations

import ast
import functools
import io
import re
import sys
import tokenize
from pathlib import Path

import pytest

from server.broker.base import Broker

SERVER = Path(__file__).resolve().parents[1] / "server"
PURE = {"protocol", "domain"}
ALLOWED_THIRD_PARTY = {"msgpack"}
# the C websocket masking function only (no I/O in it)
ALLOWED_MODULES = {"websockets.speedups"}
ENTRY_POINTS = {"app", "cli"}
# the CLI's own modules: cli.py and the body of its --seed-demo (which builds the services)
CLI = {"cli.py", "demo.py"}

# package -> the packages it must not import
MUST_NOT_IMPORT = {
    "llm": {"kb", "services", "hub", "transport", "http"},
    "storage": {"kb", "services", "hub", "transport", "http", "llm"},
    "broker": {"kb", "services", "hub", "transport", "http", "llm", "storage", "presence"},
    "presence": {"kb", "services", "hub", "transport", "http", "llm", "storage"},
    "mail": {"kb", "services", "hub", "transport", "http", "llm", "storage"},
    "hub": {"kb", "services", "transport", "http", "storage", "llm"},
    "kb": {"services", "hub", "transport", "http"},
    "services": {"transport", "http"},
}


@functools.cache
def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text())


def sources() -> list[Path]:
    return sorted(SERVER.rglob("*.py"))


def rel(path: Path) -> str:
    return path.relative_to(SERVER).as_posix()


def package_of(path: Path) -> str:
    """`transport/socket.py` -> transport, `app.py` -> app."""
    return rel(path).split("/")[0].removesuffix(".py")


def imports(path: Path) -> set[str]:
    """Every absolute import of a file, those inside functions included (an import hidden in
    a function is still an arrow)."""
    out = set()
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from server.storage import kb` imports server.storage.kb
            for alias in node.names:
                sub = SERVER.parent.joinpath(*node.module.split("."), alias.name)
                is_module = sub.is_dir() or sub.with_suffix(".py").exists()
                out.add(f"{node.module}.{alias.name}" if is_module else node.module)
    return out


def server_imports(path: Path) -> set[str]:
    return {name for name in imports(path) if name.startswith("server.")}


def layer(module: str) -> str:
    """`server.storage.kb` -> storage."""
    return module.split(".")[1]


def test_relative_imports_are_not_used() -> None:
    """The rules below read absolute imports only."""
    relative = [rel(p) for p in sources() for node in ast.walk(tree(p))
                if isinstance(node, ast.ImportFrom) and node.level]
    assert not relative, relative


@pytest.mark.parametrize("package", sorted(MUST_NOT_IMPORT))
def test_arrows_point_one_way(package: str) -> None:
    wrong = sorted((rel(p), name) for p in sources() if package_of(p) == package
                   for name in server_imports(p) if layer(name) in MUST_NOT_IMPORT[package])
    assert not wrong, f"{package} must not import {sorted(MUST_NOT_IMPORT[package])}: {wrong}"


def test_endpoints_do_not_reach_storage() -> None:
    """transport/ and http/ parse, authorize and call services; every table is read and
    written by a service, which also publishes what others must see."""
    found = sorted((rel(p), name) for p in sources() if package_of(p) in {"transport", "http"}
                   for name in server_imports(p) if layer(name) == "storage")
    assert not found, f"an endpoint reaches storage: go through a service {found}"


def test_pure_layers_import_only_the_standard_library_and_each_other() -> None:
    found = set()
    for path in sources():
        if package_of(path) not in PURE:
            continue
        for name in imports(path):
            top = name.split(".")[0]
            if top == "server":
                if layer(name) not in PURE:
                    found.add((rel(path), name))
                continue
            if name in ALLOWED_MODULES:
                continue
            assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY, \
                f"{rel(path)} imports {name}"
            assert top not in {"asyncio", "socket", "selectors", "ssl", "subprocess"}, \
                f"{rel(path)} does I/O through {name}"
    # limits are passed in (protocol/limits.py), never read from settings
    assert not found, f"a pure layer imports {sorted(found)}"


def test_only_the_cli_imports_the_entry_points() -> None:
    wrong = sorted((rel(p), name) for p in sources() if rel(p) not in CLI
                   for name in server_imports(p)
                   if layer(name) in ENTRY_POINTS and layer(name) != package_of(p))
    assert not wrong, wrong


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sources():
        here = package_of(path)
        graph.setdefault(here, set()).update(
            layer(name) for name in server_imports(path) if layer(name) != here)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One path per cycle found by a depth-first walk (a -> b -> a)."""
    found: list[list[str]] = []
    done: set[str] = set()

    def walk(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                found.append([*path[path.index(nxt):], nxt])
            elif nxt not in done:
                walk(nxt, [*path, nxt])
        done.add(node)

    for start in sorted(graph):
        if start not in done:
            walk(start, [start])
    return found


def test_no_import_cycles_between_packages() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert not cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()})
    assert not cycles(package_graph()), cycles(package_graph())


def broker_uses(path: Path) -> list[tuple[str, str]]:
    """What a file does with a broker: (how, name) for `x.broker.name` / `broker.name`, and
    the getattr/hasattr/isinstance calls that look past the interface."""
    def is_broker(node: ast.expr) -> bool:
        return (isinstance(node, ast.Name) and node.id == "broker") or \
            (isinstance(node, ast.Attribute) and node.attr == "broker")

    out = []
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.Attribute) and is_broker(node.value):
            out.append(("attribute", node.attr))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in {"getattr", "hasattr", "isinstance"} \
                and node.args and is_broker(node.args[0]):
            out.append(("call", node.func.id))
    return out


def test_the_broker_is_used_through_its_interface() -> None:
    interface = {name for cls in Broker.__mro__ if getattr(cls, "_is_protocol", False)
                 for name in vars(cls) if not name.startswith("_")}
    wrong = sorted((rel(p), how, name) for p in sources() if package_of(p) != "broker"
                   for how, name in broker_uses(p) if how == "call" or name not in interface)
    assert not wrong, f"broker used past its interface in server/broker/base.py: {wrong}"
    concrete = sorted(rel(p) for p in sources() if rel(p) != "app.py"
                      and package_of(p) != "broker"
                      and any(layer(n) == "broker" and n != "server.broker.base"
                              for n in server_imports(p)))
    assert not concrete, f"only app.py picks the broker implementation: {concrete}"


SQL = re.compile(r"\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM)\b")


def sql_strings(source: str) -> list[str]:
    return [node.value for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and SQL.search(node.value)]


def test_sql_lives_in_storage_only() -> None:
    assert sql_strings('q = "SELECT id FROM conversations WHERE org_id = $1"')
    assert sql_strings('q = """\n    UPDATE conversations SET mode = $2\n"""')
    assert not sql_strings('"""Select a passage; update the docs."""')
    offenders = sorted({rel(p) for p in sources() if not rel(p).startswith("storage/")
                        and sql_strings(p.read_text())})
    assert not offenders, f"SQL outside server/storage: {offenders}"


def test_modules_stay_small() -> None:
    big = [(rel(p), n) for p in sources() if (n := len(p.read_text().splitlines())) > 400]
    assert not big, big


IGNORE = re.compile(r"type:\s*ignore")
# `# type: ignore[code, ...]  # why`: the error it silences and the reason it is right here
REASONED_IGNORE = re.compile(r"#\s*type:\s*ignore\[[a-z-]+(,\s*[a-z-]+)*\]\s+#\s*\S")


def unreasoned_ignores(source: str) -> list[int]:
    """Line numbers of the `type: ignore` comments that lack an error code or a reason."""
    return [token.start[0] for token in tokenize.generate_tokens(io.StringIO(source).readline)
            if token.type == tokenize.COMMENT and IGNORE.search(token.string)
            and not REASONED_IGNORE.search(token.string)]


def test_every_type_ignore_names_its_error_and_reason() -> None:
    assert unreasoned_ignores("x = f()  # type: ignore\n") == [1]
    assert unreasoned_ignores("x = f()  # type: ignore[arg-type]\n") == [1]
    assert not unreasoned_ignores("x = f()  # type: ignore[arg-type]  # the stub is wrong\n")
    assert not unreasoned_ignores('x = "# type: ignore"\n')
    wrong = [f"{rel(p)}:{n}" for p in sources() for n in unreasoned_ignores(p.read_text())]
    assert not wrong, f"`# type: ignore[code]  # reason` wanted: {wrong}"
