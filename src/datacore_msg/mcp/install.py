"""Registering the MCP server for Claude Code, taking it out, looking at it.

Claude Code reads MCP servers from ``mcpServers`` in the user's ``~/.claude.json`` (user scope;
``$CLAUDE_CONFIG_DIR/.claude.json`` when that is set) and in a project's ``.mcp.json`` (project
scope)::

    {"mcpServers": {"datacore-msg": {"type": "stdio", "command": "/…/datacore-msg",
                                     "args": ["mcp", "--root", "/home/me/Data"], "env": {}},
                    "other": {…}},
     "numStartups": 12, "projects": {…}}

Theory of operation (the rules of :mod:`datacore_msg.hooks.install`, whose file handling this
reuses):

* **Ours is the entry named** ``datacore-msg``; no other entry and no other key is ever changed.
* **Install** writes nothing when that entry already is the wanted one, else sets it (added or
  updated in place, keeping its position). **Uninstall** removes it; an ``mcpServers`` object this
  leaves empty is dropped, so an uninstall after an install gives back the same value.
* The file is parsed into plain dicts (which keep key order) and written back as
  ``json.dumps(…, indent=2, ensure_ascii=False)`` plus a newline, atomically, with its permission
  bits, after its previous bytes are kept as ``<name>.datacore-msg-<stamp>.bak``. A file that
  changed between our read and our write is left alone.
* **A file we cannot parse is never overwritten**: strict JSON (no comments, trailing commas,
  duplicate keys or ``NaN``), a top level that is an object, ``mcpServers`` an object; otherwise a
  :class:`~datacore_msg.errors.ConfigError` names the file, line and column or the key.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any, cast

import attrs

from datacore_msg.errors import ConfigError, InvalidInput
from datacore_msg.hooks.install import Change, default_exe
from datacore_msg.hooks.jsonfile import (
    describe,
    load_for_edit,
    parse_strict,
    read_bytes,
    real_path,
    write_with_backup,
)

SERVER_NAME = "datacore-msg"
KEY = "mcpServers"


@attrs.frozen
class Survey:
    """A config file as ``mcp status`` sees it: our entry (None if absent) and the other servers."""

    path: Path
    exists: bool
    entry: dict[str, Any] | None
    other_servers: tuple[str, ...]


def user_config_file() -> Path:
    """``$CLAUDE_CONFIG_DIR/.claude.json`` if that is set, else ``~/.claude.json``."""
    config_dir = os.environ.get("CLAUDE_CONFIG_DIR")
    base = Path(config_dir).expanduser() if config_dir else Path.home()
    return base.absolute() / ".claude.json"


def project_config_file(directory: Path) -> Path:
    """``DIR/.mcp.json``; DIR must be an existing directory."""
    folder = directory.expanduser().absolute()
    if not folder.is_dir():
        raise InvalidInput(f"{folder}: not an existing directory")
    return folder / ".mcp.json"


def server_entry(root: Path, space: str | None, exe: list[str] | None = None) -> dict[str, Any]:
    """Our entry: ``<exe> mcp --root ROOT [--space SPACE]`` on stdio."""
    argv = [*(exe or default_exe()), "mcp", "--root", str(root)]
    if space is not None:
        argv += ["--space", space]
    return {"type": "stdio", "command": argv[0], "args": argv[1:], "env": {}}


#: Environment names an entry of a project file may set and still be started by ``mcp status``.
_SAFE_ENV = re.compile(r"(DATACORE_|XDG_)[A-Z_]*|RELAY_SECRET|TZ")


def not_ours(entry: dict[str, Any]) -> str | None:
    """Why ``entry`` is not this datacore-msg's MCP server as ``mcp install`` writes it (None when
    it is): a project's ``.mcp.json`` comes with the project and may name any program, so ``mcp
    status`` starts one only when it runs ``<this datacore-msg> mcp [--root R] [--space S]``,
    with no environment beyond ``DATACORE_*``, ``XDG_*``, ``RELAY_SECRET`` and ``TZ``."""
    argv = [entry.get("command"), *(entry.get("args") or [])]
    env = entry.get("env") or {}
    if not all(isinstance(part, str) for part in argv):
        return "its command and args are not strings"
    ours = [default_exe(), [sys.executable, "-m", "datacore_msg"]]
    prefix = next((exe for exe in ours if argv[: len(exe)] == exe), None)
    if prefix is None:
        return f"its command is not this datacore-msg ({shlex.join(default_exe())})"
    rest = argv[len(prefix) :]
    options = rest[1:]
    if rest[:1] != ["mcp"] or len(options) % 2 or len(options) > 4:
        return "its arguments are not 'mcp [--root ROOT] [--space SPACE]'"
    names = options[::2]
    if len(set(names)) != len(names) or not set(names) <= {"--root", "--space"}:
        return "its arguments are not 'mcp [--root ROOT] [--space SPACE]'"
    if not isinstance(env, dict) or not all(isinstance(k, str) and _SAFE_ENV.fullmatch(k) for k in env):
        return "its env sets more than DATACORE_*, XDG_*, RELAY_SECRET or TZ"
    return None


def install(path: Path, entry: dict[str, Any], stamp: str) -> Change:
    """Make ``entry`` the ``datacore-msg`` server in ``path``; see the module doc."""
    target, raw, data = load_for_edit(path, stamp, _parse)
    servers: dict[str, Any] = data.setdefault(KEY, {})
    before = servers.get(SERVER_NAME)
    if before == entry:
        return Change(target)
    servers[SERVER_NAME] = entry
    backup = write_with_backup(target, raw, data, stamp)
    done = (SERVER_NAME,)
    if before is None:
        return Change(target, added=done, backup=backup, created=raw is None)
    return Change(target, updated=done, backup=backup)


def uninstall(path: Path, stamp: str) -> Change:
    """Remove the ``datacore-msg`` server from ``path``; see the module doc."""
    target, raw, data = load_for_edit(path, stamp, _parse)
    if raw is None:
        return Change(target)
    servers = data.get(KEY)
    if not isinstance(servers, dict) or SERVER_NAME not in servers:
        return Change(target)
    del servers[SERVER_NAME]
    if not servers:
        del data[KEY]
    return Change(target, removed=(SERVER_NAME,), backup=write_with_backup(target, raw, data, stamp))


def survey(path: Path) -> Survey:
    target = real_path(path)
    raw = read_bytes(target, "")
    if raw is None:
        return Survey(target, exists=False, entry=None, other_servers=())
    servers = _parse(target, raw, "").get(KEY, {})
    others = tuple(name for name in servers if name != SERVER_NAME)
    return Survey(target, exists=True, entry=servers.get(SERVER_NAME), other_servers=others)


def _parse(path: Path, raw: bytes, suffix: str) -> dict[str, Any]:
    data = parse_strict(
        path,
        raw,
        suffix,
        syntax_note="no comments or trailing commas",
        valid_for="valid JSON for Claude Code",
    )
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level is {describe(data)}, not an object{suffix}")
    servers = data.get(KEY, {})
    if not isinstance(servers, dict):
        raise ConfigError(f"{path}: {KEY} is {describe(servers)}, not an object{suffix}")
    for name, entry in servers.items():
        if name == SERVER_NAME and not isinstance(entry, dict):
            raise ConfigError(f"{path}: {KEY}.{name} is {describe(entry)}, not an object{suffix}")
    return cast("dict[str, Any]", data)
