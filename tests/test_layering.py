"""The boundaries of DESIGN.md ("Parts"), checked on the source's syntax trees.

Each rule is one test; a failure lists every offending ``file:line`` with what was found there.
The checks read ``src/datacore_msg`` as text (nothing is imported), so a part that does not exist
yet (``governor/``, ``transport/``, ``hooks/``) simply has nothing to check.

Rules:

* only ``eventlog/``, ``readmodels/`` and ``migrations/`` import ``sqlite3`` / ``sqlite_utils`` (the
  relay's store, ``transport/relay_store.py``, is an event log opened through ``migrations``);
* only ``fsutil.py`` (atomic replace, which the views' writer uses), the key file
  (``eventlog/signing.py``), the hook's state (``hooks/state.py``) and the CLI (``export`` writes the
  user's FILE) open files for writing, rename over files or call ``write_text`` / ``write_bytes``;
* nothing below ``cli/`` prints, writes to the standard streams or exits;
* only ``transport/`` imports socket or network libraries, and its protocol (``protocol*.py``,
  ``frames.py``) is sans-I/O: no sockets, event loop, SQLite, clock or randomness;
* ``eventlog/``, ``readmodels/``, ``projections/`` (pure modules and ``drivers/`` apart),
  ``governor/``, ``migrations/``, ``hooks/`` and ``transport/`` import only the parts of the package
  they may; ``config/`` imports nothing above it (``app``, ``hooks``, ``cli``), ``app/`` neither the
  hooks nor the CLI, and nothing but the CLI imports the CLI; ``task_states.py``, ``records.py``
  (named tuples without importing ``typing``; any part may use it) and ``digests.py`` (SHA-256
  without importing ``hashlib``; any part may use it) import nothing but the standard library;
* the pure projections read and write no files (they import no file-system module);
* the hooks' fast path bypasses the app layer on purpose (for speed): the modules it may reach
  directly are listed in :data:`HOOK_BYPASSES`, each with its reason;
* the parts that decide (``projections/``, ``governor/``) and the old files' reader (``legacy/``) read
  no clock: the time is passed in; ``legacy/`` imports only eventlog names and payloads, no file module;
* ``mcp/`` (the MCP server, beside the CLI) reaches the library only through ``app`` (plus result
  types and the hooks' JSON-config file handling), and only ``mcp/server.py`` and ``mcp/probe.py``
  import the SDK;
* ``chat/`` (the chat window, a UI beside the CLI: it may draw to the terminal) reaches the library
  only through ``app`` (plus its settings and the safe-text helpers), only ``chat/app.py`` imports
  Textual, its input parser is pure, and only the CLI opens it.

Calls and names are resolved through each module's imports (``from click import echo``,
``import sys as s``, ``from datetime import datetime as D``), so an alias does not hide a use.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import attrs
import pytest

PACKAGE = "datacore_msg"
SRC = Path(__file__).resolve().parents[1] / "src" / PACKAGE


@attrs.frozen
class Module:
    rel: str  # path relative to src/datacore_msg, with forward slashes
    name: str  # dotted module name
    tree: ast.Module

    @property
    def part(self) -> str:
        """The top-level folder (``eventlog``), or the file name for top-level modules."""
        return self.rel.split("/", 1)[0]

    def in_part(self, *parts: str) -> bool:
        return self.part in parts


@cache
def modules() -> tuple[Module, ...]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        dotted = [PACKAGE, *rel.removesuffix(".py").split("/")]
        if dotted[-1] == "__init__":
            dotted.pop()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found.append(Module(rel, ".".join(dotted), tree))
    return tuple(found)


def test_the_source_tree_is_found() -> None:
    rels = {m.rel for m in modules()}
    assert "eventlog/store.py" in rels
    assert "projections/drivers/writer.py" in rels
    assert "readmodels/taskcache.py" in rels
    assert "task_states.py" in rels
    assert "cli/main.py" in rels


# -- helpers -------------------------------------------------------------------------------------


def imports_of(module: Module) -> Iterator[tuple[int, str]]:
    """Every module name imported anywhere in the file (function-level imports included).

    ``from a.b import c`` yields ``a.b`` and ``a.b.c`` (``c`` may be a submodule); relative imports
    are resolved against the module's package.
    """
    package = module.name if module.rel.endswith("__init__.py") else module.name.rsplit(".", 1)[0]
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if node.module or not node.level:
                yield node.lineno, base
            for alias in node.names:
                if alias.name != "*":
                    yield node.lineno, f"{base}.{alias.name}"


def dotted(node: ast.AST) -> str | None:
    """``os.path.join`` for an attribute chain on a name; None for anything else."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


@cache
def aliases(module: Module) -> dict[str, str]:
    """What each name bound by an import stands for: ``import sys as s`` binds ``s`` to ``sys``,
    ``from click import echo`` binds ``echo`` to ``click.echo`` (function-level imports included)."""
    bound: dict[str, str] = {}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bound[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bound


def resolved(module: Module, node: ast.AST) -> str | None:
    """:func:`dotted`, with its first name replaced by what the module imported it as, so
    ``from sys import stdout; stdout.write`` reads ``sys.stdout.write``."""
    name = dotted(node)
    if name is None:
        return None
    head, _, rest = name.partition(".")
    full = aliases(module).get(head)
    if full is None:
        return name
    return f"{full}.{rest}" if rest else full


def calls(module: Module) -> Iterator[tuple[ast.Call, str | None]]:
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Call):
            yield node, resolved(module, node.func)


def enclosing_functions(tree: ast.Module) -> dict[int, str]:
    """Map each node id to the name of the innermost function that holds it."""
    owner: dict[int, str] = {}

    def visit(node: ast.AST, current: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = current
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = child.name
            owner[id(child)] = name
            visit(child, name)

    visit(tree, "<module>")
    return owner


def is_module(name: str, *roots: str) -> bool:
    return any(name == root or name.startswith(root + ".") for root in roots)


def report(offences: list[str], rule: str) -> str:
    return f"{rule}; offending:\n  " + "\n  ".join(offences)


def test_imports_are_resolved_including_relative_and_nested_ones() -> None:
    source = (
        "import sqlite3\nfrom . import render\nfrom .. import errors\nfrom ..eventlog.store import X\n"
        "def f():\n    import socket\n"
    )
    fake = Module("projections/x.py", "datacore_msg.projections.x", ast.parse(source))
    assert sorted(set(imports_of(fake))) == [
        (1, "sqlite3"),
        (2, "datacore_msg.projections.render"),
        (3, "datacore_msg.errors"),
        (4, "datacore_msg.eventlog.store"),
        (4, "datacore_msg.eventlog.store.X"),
        (6, "socket"),
    ]


# -- sqlite only in the event log and its migrations ---------------------------------------------

SQLITE_MODULES = ("sqlite3", "sqlite_utils", "_sqlite3")


def test_only_eventlog_readmodels_and_migrations_import_sqlite() -> None:
    offences = [
        f"{m.rel}:{line}: imports {name}"
        for m in modules()
        if not m.in_part("eventlog", "readmodels", "migrations")
        for line, name in imports_of(m)
        if is_module(name, *SQLITE_MODULES)
    ]
    assert not offences, report(offences, "only eventlog/, readmodels/ and migrations/ may touch SQLite")


# -- the only file writers -----------------------------------------------------------------------

#: Files allowed to write files, and why.
WRITERS = {
    "fsutil.py": "atomic replace of one file (temp file, fsync, rename) for every file we own; "
    "the append-only files of sync --folder",
    "hooks/state.py": "the hook's per-session cursors and its log of its own failures",
    "eventlog/signing.py": "creates this installation's key file once, mode 0600",
    "eventlog/connection.py": "creates the event log file with mode 0600 before SQLite opens it",
    "projections/drivers/viewlock.py": "creates the empty views lock file that it flocks",
    "transport/resident.py": "creates the empty lock file that the resident process flocks for its life",
}
#: Folders allowed to write files, and why.
WRITER_PARTS = {"cli": "export writes the FILE the user named; import --report FILE too"}

_WRITE_MODE_CHARS = frozenset("wax+")
_WRITE_FLAGS = frozenset({"O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND", "O_TRUNC"})
_RENAMES = frozenset(
    {
        "os.replace",
        "os.rename",
        "os.renames",
        "shutil.move",
        "shutil.copy",
        "shutil.copy2",
        "shutil.copyfile",
        "shutil.copytree",
    }
)


def _mode_of(call: ast.Call, position: int) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == "mode":
            return keyword.value
    return call.args[position] if len(call.args) > position else None


def _write_mode(mode: ast.expr | None, strict: bool = True) -> str | None:
    """What is wrong with an ``open`` mode, or None if it only reads. ``strict``: a mode that is
    not a literal counts as writing (it cannot be checked)."""
    if mode is None:
        return None
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return f"mode {mode.value!r}" if _WRITE_MODE_CHARS & set(mode.value) else None
    return "a mode that is not a literal" if strict else None


def file_writes(module: Module) -> Iterator[tuple[int, str]]:
    for call, name in calls(module):
        func = call.func
        if name in ("open", "io.open", "builtins.open", "codecs.open"):
            problem = _write_mode(_mode_of(call, 1))
            if problem:
                yield call.lineno, f"{name}(...) with {problem}"
        elif name == "os.fdopen":
            problem = _write_mode(_mode_of(call, 1))
            if problem:
                yield call.lineno, f"os.fdopen(...) with {problem}"
        elif isinstance(func, ast.Attribute) and func.attr == "open" and name != "os.open":
            # Path.open(mode): other objects' .open(x) take other first arguments, so only a
            # literal write mode (or a mode= keyword) counts here.
            keyword_mode = any(k.arg == "mode" for k in call.keywords)
            problem = _write_mode(_mode_of(call, 0), strict=keyword_mode)
            if problem:
                yield call.lineno, f".open(...) with {problem}"
        elif name == "os.open":
            flags = {n.attr for n in ast.walk(call) if isinstance(n, ast.Attribute)}
            flags |= {n.id for n in ast.walk(call) if isinstance(n, ast.Name)}
            if flags & _WRITE_FLAGS:
                yield call.lineno, f"os.open(...) with {', '.join(sorted(flags & _WRITE_FLAGS))}"
        elif isinstance(func, ast.Attribute) and func.attr in ("write_text", "write_bytes"):
            yield call.lineno, f".{func.attr}(...)"
        elif name in _RENAMES:
            yield call.lineno, f"{name}(...)"


def test_only_the_allowed_modules_write_files() -> None:
    offences = [
        f"{m.rel}:{line}: {what}"
        for m in modules()
        if m.rel not in WRITERS and not m.in_part(*WRITER_PARTS)
        for line, what in file_writes(m)
    ]
    assert not offences, report(
        offences,
        "only the modules in WRITERS and cli/ (export FILE) may write files",
    )


def test_every_allowed_writer_still_writes() -> None:
    """An allow-list entry that no longer writes anything must go (it would hide a new writer)."""
    writing = {m.rel for m in modules() if any(True for _ in file_writes(m))}
    stale = sorted(rel for rel in WRITERS if rel not in writing)
    assert not stale, f"stale writer allow-list entries: {stale}"


def test_the_writer_rule_sees_writes() -> None:
    """The detector itself: each form of writing is caught, reading is not."""
    source = (
        "open(p, 'w')\nopen(p, mode='ab')\nopen(p, m)\npath.open('w')\nos.fdopen(fd, 'w')\n"
        "os.open(p, os.O_WRONLY)\np.write_text('x')\np.write_bytes(b'')\nos.replace(a, b)\n"
        "open(p)\nopen(p, 'rb')\npath.open()\nos.open(p, os.O_RDONLY)\ns.replace('a', 'b')\n"
    )
    fake = Module("x.py", "datacore_msg.x", ast.parse(source))
    assert [line for line, _ in file_writes(fake)] == list(range(1, 10))


# -- nothing below the CLI prints or exits -------------------------------------------------------

_EXITS = frozenset({"sys.exit", "exit", "quit", "os._exit", "os.abort"})
_PRINTS = frozenset({"print", "click.echo", "click.secho", "pprint.pprint", "pprint", "builtins.print"})
_STREAMS = frozenset({"sys.stdout", "sys.stderr", "sys.__stdout__", "sys.__stderr__"})


def prints_and_exits(module: Module) -> Iterator[tuple[int, str]]:
    for call, name in calls(module):
        if name in _EXITS or name in _PRINTS:
            yield call.lineno, f"{name}(...)"
    for node in ast.walk(module.tree):
        if isinstance(node, (ast.Attribute, ast.Name)) and resolved(module, node) in _STREAMS:
            yield node.lineno, f"uses {resolved(module, node)}"
        elif isinstance(node, ast.Raise) and node.exc is not None:
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if resolved(module, target) in ("SystemExit", "builtins.SystemExit"):
                yield node.lineno, "raise SystemExit"


def test_the_print_rule_sees_prints_and_exits() -> None:
    """The detector itself, imported names and aliases included."""
    source = (
        "import sys as s\nimport click as c\nfrom click import echo\nfrom sys import stderr as err\n"
        "def f():\n    print(1)\n    c.secho(1)\n    echo(1)\n    err.write(1)\n    s.stdout.write(1)\n"
        "    s.exit(1)\n    raise SystemExit(1)\n    log.write(1)\n    sys_exit = 1\n"
    )
    fake = Module("app/x.py", "datacore_msg.app.x", ast.parse(source))
    assert sorted({line for line, _ in prints_and_exits(fake)}) == list(range(6, 13))


def test_nothing_below_the_cli_prints_or_exits() -> None:
    offences = [
        f"{m.rel}:{line}: {what}"
        for m in modules()
        if not m.in_part("cli", "__main__.py")
        for line, what in prints_and_exits(m)
    ]
    assert not offences, report(offences, "only cli/ and __main__.py print, write to stdout/stderr or exit")


# -- sockets only in the transport ---------------------------------------------------------------

NETWORK_MODULES = (
    "socket",
    "socketserver",
    "ssl",
    "asyncio.streams",
    "websockets",
    "nats",
    "http.client",
    "http.server",
    "urllib.request",
    "requests",
    "httpx",
    "aiohttp",
)


def test_only_transport_opens_sockets() -> None:
    offences = [
        f"{m.rel}:{line}: imports {name}"
        for m in modules()
        if not m.in_part("transport")
        for line, name in imports_of(m)
        if is_module(name, *NETWORK_MODULES)
    ]
    offences += [
        f"{m.rel}:{call.lineno}: calls {name}"
        for m in modules()
        if not m.in_part("transport")
        for call, name in calls(m)
        if name in ("asyncio.open_connection", "asyncio.start_server")
    ]
    assert not offences, report(offences, "only transport/ may open sockets")


# -- which parts of the package each part may import ---------------------------------------------


def package_imports(module: Module) -> Iterator[tuple[int, str]]:
    for line, name in imports_of(module):
        if is_module(name, PACKAGE):
            yield line, name


def _disallowed(part: str, allowed: tuple[str, ...]) -> list[str]:
    return [
        f"{m.rel}:{line}: imports {name}"
        for m in modules()
        if m.in_part(part)
        for line, name in package_imports(m)
        if not is_module(name, *allowed) and name != PACKAGE
    ]


#: Named tuples declared as with ``typing.NamedTuple``, without importing ``typing`` (stdlib only).
RECORDS = "datacore_msg.records"
#: SHA-256 without importing ``hashlib`` (stdlib only).
DIGESTS = "datacore_msg.digests"
#: JSON through ``_json`` without importing :mod:`json` (stdlib only).
JSONTEXT = "datacore_msg.jsontext"


def test_eventlog_imports_only_itself_and_errors() -> None:
    offences = _disallowed(
        "eventlog", ("datacore_msg.eventlog", "datacore_msg.errors", RECORDS, DIGESTS, JSONTEXT)
    )
    assert not offences, report(offences, "eventlog/ may import only eventlog and errors")


TASK_STATES = "datacore_msg.task_states"


#: The leaf modules any part may use, with the only (standard library) modules each may import, and
#: why it must stay a leaf.
STANDARD_LIBRARY_LEAVES = {
    "records.py": (("__future__", "collections", "operator", "typing"), "the hook reads it"),
    "jsontext.py": (("__future__", "_json", "json", "collections", "typing"), "any part may use it"),
    "digests.py": (("__future__", "hashlib", "_hashlib", "_sha256", "_sha2"), "the hook reads it"),
    "task_states.py": (("__future__", "collections", "typing"), "the hook reads it"),
}


@pytest.mark.parametrize("leaf", sorted(STANDARD_LIBRARY_LEAVES))
def test_leaf_modules_import_only_the_standard_library(leaf: str) -> None:
    allowed, why = STANDARD_LIBRARY_LEAVES[leaf]
    offences = [
        f"{m.rel}:{line}: imports {name}"
        for m in modules()
        if m.rel == leaf
        for line, name in imports_of(m)
        if name.split(".")[0] not in allowed
    ]
    assert any(m.rel == leaf for m in modules()), leaf
    assert not offences, report(offences, f"{leaf} is standard library only ({why})")


def test_read_models_import_only_the_eventlog_errors_states_and_themselves() -> None:
    offences = _disallowed(
        "readmodels",
        ("datacore_msg.eventlog", "datacore_msg.errors", TASK_STATES, RECORDS, "datacore_msg.readmodels"),
    )
    assert not offences, report(offences, "readmodels/ may import only eventlog, errors and task_states")


#: What the pure projections may import: event types, the task vocabulary, the entry and search
#: document row types.
PURE_PROJECTION_IMPORTS = (
    "datacore_msg.eventlog.envelope",
    "datacore_msg.eventlog.payloads",
    "datacore_msg.eventlog.names",
    "datacore_msg.eventlog.hlc",
    "datacore_msg.eventlog.trust",
    "datacore_msg.eventlog.lookalike",
    "datacore_msg.errors",
    TASK_STATES,
    RECORDS,
    "datacore_msg.readmodels.entry",
    "datacore_msg.readmodels.searchdoc",
)


DRIVERS = "datacore_msg.projections.drivers"


def _is_driver(module: Module) -> bool:
    return module.rel.startswith("projections/drivers/")


def test_pure_projections_import_no_driver_store_or_file_writer() -> None:
    offences = [
        f"{m.rel}:{line}: imports {name}"
        for m in modules()
        if m.in_part("projections") and not _is_driver(m)
        for line, name in package_imports(m)
        if name != PACKAGE
        and not is_module(name, *PURE_PROJECTION_IMPORTS)
        and not (
            is_module(name, "datacore_msg.projections")
            and not name.startswith("datacore_msg.projections.drivers")
        )
    ]
    assert not offences, report(
        offences,
        "pure projections/ modules import only event types, trust, task_states, the entry row and each other",
    )


def test_projection_drivers_import_only_the_log_read_models_and_projections() -> None:
    offences = [
        f"{m.rel}:{line}: imports {name}"
        for m in modules()
        if _is_driver(m)
        for line, name in package_imports(m)
        if name != PACKAGE
        and not is_module(
            name,
            "datacore_msg.eventlog",
            "datacore_msg.readmodels",
            "datacore_msg.projections",
            "datacore_msg.errors",
            "datacore_msg.fsutil",
            TASK_STATES,
            DIGESTS,
            RECORDS,
        )
    ]
    assert not offences, report(
        offences,
        "projections/drivers/ import only eventlog, readmodels, projections, errors, fsutil and digests",
    )


#: Modules that reach the file system; the pure projections import none of them.
FILE_MODULES = ("os", "pathlib", "io", "shutil", "tempfile", "glob", "filelock", "datacore_msg.fsutil")
_FILE_READS = frozenset({"read_text", "read_bytes", "open", "iterdir", "exists", "stat"})


def test_pure_projections_touch_no_files() -> None:
    pure = [m for m in modules() if m.in_part("projections") and not _is_driver(m)]
    offences = [f"{m.rel}:{line}: {what}" for m in pure for line, what in file_writes(m)]
    offences += [
        f"{m.rel}:{line}: imports {name}"
        for m in pure
        for line, name in imports_of(m)
        if is_module(name, *FILE_MODULES)
    ]
    offences += [
        f"{m.rel}:{call.lineno}: calls {name}"
        for m in pure
        for call, name in calls(m)
        if name == "open" or (isinstance(call.func, ast.Attribute) and call.func.attr in _FILE_READS)
    ]
    assert not offences, report(offences, "pure projections read and write no files (the drivers do)")


#: The modules the hooks reach without going through the app layer, and why. The prompt hook runs on
#: every prompt and must cost little more than starting Python, so its nothing-new path reads the
#: derived rows directly and orders the queue itself; everything that appends goes through ``app``.
HOOK_BYPASSES = {
    "datacore_msg.readmodels.hookread": "one read transaction over the derived rows, stdlib only",
    "datacore_msg.governor.queue": "which QUEUED task is next, stdlib only",
    "datacore_msg.eventlog.names": "the agent's name from its owner's (for the settings cache)",
    "datacore_msg.eventlog.lookalike": "how an unverified or lookalike sender is labelled, stdlib only",
}
#: ``from datacore_msg.readmodels import hookread`` also names the (docstring-only) package.
BYPASSED_PACKAGES = ("datacore_msg.readmodels", "datacore_msg.governor", "datacore_msg.eventlog")
#: What every hook module may import besides the bypasses.
HOOK_IMPORTS = (
    "datacore_msg.hooks",
    "datacore_msg.app",
    "datacore_msg.config",
    "datacore_msg.errors",
    "datacore_msg.fsutil",
    TASK_STATES,
    RECORDS,
    DIGESTS,
    JSONTEXT,
)


def test_hooks_reach_below_the_app_layer_only_through_the_listed_bypasses() -> None:
    offences = [
        f"{m.rel}:{line}: imports {name}"
        for m in modules()
        if m.in_part("hooks")
        for line, name in package_imports(m)
        if name not in (PACKAGE, *BYPASSED_PACKAGES) and not is_module(name, *HOOK_IMPORTS, *HOOK_BYPASSES)
    ]
    assert not offences, report(
        offences, "hooks/ import app, config and the HOOK_BYPASSES only (the fast path's direct reads)"
    )


def test_every_hook_bypass_is_still_used() -> None:
    used = {
        name
        for m in modules()
        if m.in_part("hooks")
        for _, name in package_imports(m)
        for bypass in HOOK_BYPASSES
        if is_module(name, bypass)
    }
    stale = sorted(bypass for bypass in HOOK_BYPASSES if not any(is_module(u, bypass) for u in used))
    assert not stale, f"stale hook bypass entries: {stale}"


#: The eventlog modules that hold types (events, payloads, names, clock stamps): no store, no key.
EVENTLOG_TYPES = (
    "datacore_msg.eventlog.envelope",
    "datacore_msg.eventlog.payloads",
    "datacore_msg.eventlog.names",
    "datacore_msg.eventlog.hlc",
)


def test_governor_imports_only_eventlog_types() -> None:
    offences = _disallowed(
        "governor", (*EVENTLOG_TYPES, "datacore_msg.errors", "datacore_msg.governor", TASK_STATES, RECORDS)
    )
    assert not offences, report(
        offences, "governor/ may import only eventlog types (" + ", ".join(EVENTLOG_TYPES) + ")"
    )


def test_migrations_import_only_the_eventlog_errors_and_themselves() -> None:
    offences = _disallowed(
        "migrations", ("datacore_msg.eventlog", "datacore_msg.errors", "datacore_msg.migrations", RECORDS)
    )
    assert not offences, report(offences, "migrations/ may import only eventlog and errors")


def test_legacy_imports_only_names_payloads_and_itself() -> None:
    """The reader of datacore-messaging's files is pure: text in, payloads and a report out."""
    allowed = ("datacore_msg.eventlog.names", "datacore_msg.eventlog.payloads", "datacore_msg.legacy")
    offences = _disallowed("legacy", (*allowed, "datacore_msg.errors", TASK_STATES))
    offences += [
        f"{m.rel}:{line}: imports {name}"
        for m in modules()
        if m.in_part("legacy")
        for line, name in imports_of(m)
        if is_module(name, *FILE_MODULES)
    ]
    assert not offences, report(offences, "legacy/ imports only eventlog names and payloads, no file module")


#: The transport modules that may reach past the event log, and why.
TRANSPORT_EXTRAS = {
    "transport/relay_store.py": (
        ("datacore_msg.migrations.runner",),
        "opens the relay's own event log with the same schema (and migrations) as a space's",
    ),
    "transport/relay_jetstream.py": (
        ("datacore_msg.migrations.upcasters",),
        "reads events from JetStream at the current payload version, as the relay's SQLite log does",
    ),
    "transport/resident.py": (
        ("datacore_msg.jsontext",),
        "a command's request to the resident process is JSON, read and written like the package's other JSON",
    ),
}


def test_transport_imports_only_the_eventlog_errors_and_itself() -> None:
    base = ("datacore_msg.eventlog", "datacore_msg.errors", "datacore_msg.transport", RECORDS)
    offences = [
        f"{m.rel}:{line}: imports {name}"
        for m in modules()
        if m.in_part("transport")
        for line, name in package_imports(m)
        if name != PACKAGE and not is_module(name, *base, *TRANSPORT_EXTRAS.get(m.rel, ((), ""))[0])
    ]
    assert not offences, report(
        offences,
        "transport/ may import only eventlog and errors (and TRANSPORT_EXTRAS, each with its reason)",
    )


def _is_sans_io(module: Module) -> bool:
    name = module.rel.rsplit("/", 1)[-1]
    return module.rel.startswith("transport/") and (name.startswith("protocol") or name == "frames.py")


#: What the sans-I/O protocol modules may not import: sockets and event loops, the database, the
#: store (it reads through the EventSource interface), randomness and the clock (passed in).
SANS_IO_FORBIDDEN = (
    *NETWORK_MODULES,
    "asyncio",
    "selectors",
    "threading",
    *SQLITE_MODULES,
    "datacore_msg.eventlog.store",
    "datacore_msg.eventlog.connection",
    "datacore_msg.migrations",
    "secrets",
    "random",
    "time",
    "os",
    "datetime",
)


def test_the_protocol_is_sans_io() -> None:
    """``transport/protocol*.py`` and ``transport/frames.py``: no sockets, no asyncio, no SQLite, no
    clock or randomness (nonces and time are passed in); only the drivers do I/O."""
    sans_io = [m for m in modules() if _is_sans_io(m)]
    offences = [
        f"{m.rel}:{line}: imports {name}"
        for m in sans_io
        for line, name in imports_of(m)
        if is_module(name, *SANS_IO_FORBIDDEN)
    ]
    offences += [
        f"{m.rel}:{line}: {name}() in {function}()"
        for m in sans_io
        for line, name, function in clock_reads(m)
    ]
    offences += [f"{m.rel}:{line}: {what}" for m in sans_io for line, what in file_writes(m)]
    assert not offences, report(offences, "the sync protocol and its frames are sans-I/O")


def test_the_sans_io_rule_sees_the_protocol() -> None:
    rels = {m.rel for m in modules() if _is_sans_io(m)}
    assert {"transport/protocol.py", "transport/frames.py"} <= rels


def _reaching(part: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{m.rel}:{line}: imports {name}"
        for m in modules()
        if m.in_part(part)
        for line, name in package_imports(m)
        if is_module(name, *forbidden)
    ]


def test_config_imports_nothing_above_it() -> None:
    """``config/`` is read by the service; it never reaches up into it, the hooks or the CLI."""
    offences = _reaching("config", ("datacore_msg.app", "datacore_msg.hooks", "datacore_msg.cli"))
    assert not offences, report(offences, "config/ imports no app, hooks or cli")


def test_app_imports_neither_the_hooks_nor_the_cli() -> None:
    """The hooks and the CLI call the service; the service calls neither."""
    offences = _reaching("app", ("datacore_msg.hooks", "datacore_msg.cli"))
    assert not offences, report(offences, "app/ imports no hooks or cli")


def test_nothing_imports_the_cli_but_the_cli() -> None:
    offences = [
        f"{m.rel}:{line}: imports {name}"
        for m in modules()
        if not m.in_part("cli", "__main__.py")
        for line, name in package_imports(m)
        if is_module(name, "datacore_msg.cli")
    ]
    assert not offences, report(offences, "cli/ is the top layer; nothing below imports it")


#: What ``mcp/`` may import: the service (each tool is one ``app`` call, the same as the CLI's), the
#: types its results are built from, and the JSON-config file handling it shares with the hooks'
#: installer. No store, no read model, no writer: what a tool does, the CLI does the same way.
MCP_IMPORTS = (
    "datacore_msg.__version__",
    "datacore_msg.mcp",
    "datacore_msg.app",
    "datacore_msg.errors",
    "datacore_msg.terminal",
    TASK_STATES,
    "datacore_msg.eventlog.names",
    "datacore_msg.eventlog.hlc",
    "datacore_msg.projections.tasks",
    "datacore_msg.projections.timefmt",
    "datacore_msg.projections.drivers.writer",
    "datacore_msg.hooks.install",
    "datacore_msg.hooks.jsonfile",
)
#: The only modules that import the MCP SDK (the server; ``mcp status``'s probe, which runs a
#: registered server with the SDK's client): every other command starts without it.
MCP_SDK_USERS = frozenset({"mcp/server.py", "mcp/probe.py"})


def test_mcp_calls_the_service_like_the_cli() -> None:
    offences = _disallowed("mcp", MCP_IMPORTS)
    assert not offences, report(
        offences, "mcp/ imports app, errors, terminal, result types and hooks.install only"
    )


def test_only_the_mcp_server_imports_the_sdk() -> None:
    offences = [
        f"{m.rel}:{line}: imports {name}"
        for m in modules()
        if m.rel not in MCP_SDK_USERS
        for line, name in imports_of(m)
        if is_module(name, "mcp", "pydantic")
    ]
    assert not offences, report(offences, "only mcp/server.py and mcp/probe.py import the MCP SDK")


def test_only_the_cli_imports_the_mcp_server() -> None:
    offences = _reaching("app", ("datacore_msg.mcp",)) + _reaching("hooks", ("datacore_msg.mcp",))
    offences += _reaching("config", ("datacore_msg.mcp",))
    assert not offences, report(offences, "the MCP server sits beside the CLI; the service never imports it")


# -- the parts that decide read no clock ---------------------------------------------------------

CLOCK_CALLS = frozenset(
    {
        "time.time",
        "time.time_ns",
        "time.monotonic",
        "time.monotonic_ns",
        "time.perf_counter",
        "time.perf_counter_ns",
        "datetime.now",
        "datetime.utcnow",
        "datetime.today",
        "date.today",
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.datetime.today",
        "datetime.date.today",
    }
)
_CLOCK_WHEN_CALLED_BARE = frozenset({"time.localtime", "time.gmtime", "time.ctime"})

#: (file, function) pairs that may read the clock, and why.
CLOCK_ALLOWED = {
    ("projections/drivers/writer.py", "_keep_aside"): (
        "names a hand-edited view kept aside ('<name>.edited-<UTC stamp>') when the caller passes "
        "no time; the stamp is a file name for people, never part of a rendered view"
    ),
}


def clock_reads(module: Module) -> Iterator[tuple[int, str, str]]:
    """(line, call, enclosing function) for every read of the clock (names resolved through the
    module's imports: ``from time import monotonic as mono; mono()`` is ``time.monotonic``)."""
    owners = enclosing_functions(module.tree)
    for call, name in calls(module):
        if name is None:
            continue
        if name in CLOCK_CALLS or (name in _CLOCK_WHEN_CALLED_BARE and not call.args):
            yield call.lineno, name, owners.get(id(call), "<module>")


def test_policy_code_reads_no_clock() -> None:
    offences = [
        f"{m.rel}:{line}: {name}() in {function}()"
        for m in modules()
        if m.in_part("projections", "governor", "legacy")
        for line, name, function in clock_reads(m)
        if (m.rel, function) not in CLOCK_ALLOWED
    ]
    assert not offences, report(offences, "reducers, renderer and governor take the time as an argument")


def test_the_clock_allow_list_is_still_needed() -> None:
    """An allow-list entry that no longer matches anything must go (it would hide a new use)."""
    used = {(m.rel, function) for m in modules() for _, _, function in clock_reads(m)}
    stale = sorted(f"{rel} {function}()" for rel, function in CLOCK_ALLOWED if (rel, function) not in used)
    assert not stale, f"stale clock allow-list entries: {stale}"


def test_the_clock_rule_sees_clock_reads() -> None:
    source = (
        "from time import monotonic as mono\n"
        "def f():\n    time.time()\n    datetime.now(timezone.utc)\n    date.today()\n"
        "    mono()\n    datetime.datetime.utcnow()\n    time.localtime()\n"
        "    datetime.fromtimestamp(0)\n    time.localtime(0)\n"
        "import datetime as dt\nfrom datetime import datetime as D\n"
        "def g():\n    dt.datetime.now()\n    D.now()\n    D.fromtimestamp(0)\n"
    )
    fake = Module("projections/x.py", "datacore_msg.projections.x", ast.parse(source))
    assert [line for line, _, _ in clock_reads(fake)] == [3, 4, 5, 6, 7, 8, 14, 15]


# -- the chat window is a UI beside the CLI --------------------------------------------------------

#: What ``chat/`` may import: the service (every action is the ``app`` call the CLI makes), the chat
#: window's settings, the helpers that make event text safe to show, and the record base classes
#: (``records.py``, standard library only). No store, no read model, no
#: writer: reading and writing go through ``app`` (which pages the read models for it).
CHAT_IMPORTS = (
    "datacore_msg.chat",
    "datacore_msg.app",
    "datacore_msg.config.chat",
    "datacore_msg.config.contacts",
    "datacore_msg.errors",
    "datacore_msg.terminal",
    "datacore_msg.eventlog.hlc",
    RECORDS,
)
#: The only chat module that imports the UI framework: the parser and the rest stay testable alone.
CHAT_UI = frozenset({"chat/app.py"})


def test_chat_calls_the_service_like_the_cli() -> None:
    offences = _disallowed("chat", CHAT_IMPORTS)
    assert not offences, report(offences, "chat/ imports app, config.chat, errors, terminal and records only")


def test_only_the_chat_window_imports_textual() -> None:
    offences = [
        f"{m.rel}:{line}: imports {name}"
        for m in modules()
        if m.rel not in CHAT_UI
        for line, name in imports_of(m)
        if is_module(name, "textual", "rich")
    ]
    assert not offences, report(offences, "only chat/app.py imports textual (and rich)")


def test_the_chat_parser_is_pure() -> None:
    """``chat/commands.py``: text in, a command out; nothing from the package but its record base
    class (standard library only), no I/O."""
    parser = next(m for m in modules() if m.rel == "chat/commands.py")
    found = sorted({name.split(".")[0] for _, name in imports_of(parser)})
    assert found == ["__future__", "collections", "datacore_msg"], found
    ours = {name for _, name in package_imports(parser)}
    assert all(is_module(name, RECORDS) for name in ours), ours


def test_only_the_cli_opens_the_chat_window() -> None:
    offences = [
        f"{m.rel}:{line}: imports {name}"
        for m in modules()
        if not m.in_part("cli", "chat")
        for line, name in package_imports(m)
        if is_module(name, "datacore_msg.chat")
    ]
    assert not offences, report(offences, "the chat window sits beside the CLI; nothing below imports it")
