"""Claude Code's JSON config files, read strictly and written back safely: shared by the hooks'
installer (``settings.json``) and the MCP server's (``~/.claude.json``, ``.mcp.json``).

A file is read as bytes (a symlink is followed to the file it names) and parsed as strict JSON:
not UTF-8, comments, trailing commas, duplicate keys, ``NaN`` and a top level that is not an object
are :class:`~datacore_msg.errors.ConfigError` naming the file (and ``LINE:COL``). An empty file is
``{}``. A change is written as ``json.dumps(data, indent=2, ensure_ascii=False)`` plus a newline with
:func:`datacore_msg.fsutil.atomic_write` and the file's permission bits, after its previous bytes are
kept as ``<name>.datacore-msg-<stamp>.bak``; a file that changed since it was read is left alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datacore_msg.errors import ConfigError, InvalidInput
from datacore_msg.fsutil import atomic_write

#: The end of the message of an error raised before anything was written.
NOT_CHANGED = "; not changed"
_STAMP = re.compile(r"[0-9A-Za-z_-]+")


class Refused(ValueError):
    """A value JSON allows but Claude Code does not (a duplicate key, ``NaN``)."""


def check_stamp(stamp: str) -> None:
    if not _STAMP.fullmatch(stamp):
        raise InvalidInput(f"backup stamp {stamp!r}: only letters, digits, '_' and '-'")


def real_path(path: Path) -> Path:
    return path.resolve() if path.is_symlink() else path


def read_bytes(path: Path, suffix: str) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}{suffix}") from None


def describe(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise Refused(f"the key {key!r} appears twice in one object")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise Refused(f"{name} is not JSON")


def _dump(data: dict[str, Any]) -> bytes:
    try:
        return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a \ud800 escape: keep it escaped
        return (json.dumps(data, indent=2) + "\n").encode("utf-8")


def _backup_path(path: Path, stamp: str) -> Path:
    candidate = path.with_name(f"{path.name}.datacore-msg-{stamp}.bak")
    number = 2
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.datacore-msg-{stamp}-{number}.bak")
        number += 1
    return candidate


def write_with_backup(path: Path, raw: bytes | None, data: dict[str, Any], stamp: str) -> Path | None:
    """Write ``data`` over ``path``, whose bytes were ``raw`` (None: it did not exist), keeping
    ``raw`` in a backup first; the backup's path."""
    new = _dump(data)
    if raw is None:
        if path.exists():
            raise ConfigError(f"{path}: was created by another program meanwhile{NOT_CHANGED}")
        atomic_write(path, new)
        return None
    mode = path.stat().st_mode & 0o777
    if read_bytes(path, NOT_CHANGED) != raw:
        raise ConfigError(f"{path}: was changed by another program meanwhile{NOT_CHANGED}")
    backup = _backup_path(path, stamp)
    atomic_write(backup, raw, mode=mode)
    atomic_write(path, new, mode=mode)
    return backup


def parse_strict(path: Path, raw: bytes, suffix: str, *, syntax_note: str, valid_for: str) -> object:
    """``raw``, the bytes of ``path``, as strict JSON (``{}`` if blank); ``syntax_note`` follows a syntax
    error in brackets; a refused value is "not <valid_for>: …"."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}){suffix}") from None
    if not text.strip():
        return {}
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg} ({syntax_note}){suffix}"
        ) from None
    except Refused as exc:
        raise ConfigError(f"{path}: not {valid_for}: {exc}{suffix}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to read{suffix}") from None
    return data


def load_for_edit(
    path: Path, stamp: str, parse: Callable[[Path, bytes, str], dict[str, Any]]
) -> tuple[Path, bytes | None, dict[str, Any]]:
    """The file to edit (``path``, or where its symlink points), its bytes (None: it does not exist)
    and their ``parse`` (``{}`` for none), after ``stamp`` is checked as a backup's stamp."""
    check_stamp(stamp)
    target = real_path(path)
    raw = read_bytes(target, NOT_CHANGED)
    return target, raw, {} if raw is None else parse(target, raw, NOT_CHANGED)
