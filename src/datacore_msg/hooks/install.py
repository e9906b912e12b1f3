"""Putting datacore-msg's hooks into Claude Code's ``settings.json``, taking them out, checking them.

Claude Code reads hooks from the user's ``~/.claude/settings.json`` (``$CLAUDE_CONFIG_DIR/settings.json``
when that is set) and from a project's ``.claude/settings.json``::

    {"hooks": {"UserPromptSubmit": [{"hooks": [{"type": "command", "command": "…", "timeout": 30}]}],
               "PreToolUse": [{"matcher": "Bash", "hooks": […]}]},
     "permissions": {…}, "model": "…"}

Theory of operation:

* **Which entries are ours** is decided from the command alone (:func:`is_ours`): its words, split as
  a shell would, are ``<…/datacore-msg> hook prompt|session-start …`` or
  ``<python> -m datacore_msg hook prompt|session-start …``. Nothing else is ever changed or removed,
  so an ``echo datacore-msg hook prompt`` of someone else's stays.
* **Install** looks, per event, for our entry of that kind. If one is there with the same command and
  timeout, nothing is written at all; if one is there with another command (the executable moved, the
  root changed), it is changed in place, and further copies of ours for that event are dropped, so
  ours appears once. Otherwise a new group ``{"hooks": [entry]}`` is appended to the event's list.
* **Uninstall** removes every entry of ours from every event. A group, an event list or the ``hooks``
  object that this left empty is dropped; ones that were empty before are kept. So an uninstall after
  an install gives back the same value, key order included — except for a ``hooks`` object or one of
  our events' lists that was already empty, which cannot be told apart from a missing one.
* Every other key, group, hook and their order is kept: the file is parsed into plain dicts and lists
  (which keep order) and written back as ``json.dumps(data, indent=2, ensure_ascii=False)`` plus a
  newline, Claude Code's own style. Its formatting, though not its value, changes on the first write.
* A change is written with :func:`datacore_msg.fsutil.atomic_write`, with the file's permission bits
  (``settings.json`` may hold tokens in ``env``), after the previous bytes are kept next to it as
  ``<name>.datacore-msg-<stamp>.bak``. A symlinked settings file is edited where it points. A file
  that changed between our read and our write is left alone.
* **A file we cannot parse is never overwritten**: ``settings.json`` is strict JSON, so comments and
  trailing commas are errors (``path:LINE:COL``), as are duplicate keys, ``NaN``, a top level that is
  not an object and hooks not shaped as above (named by key path, e.g.
  ``hooks.UserPromptSubmit[1].hooks``). An empty or whitespace-only file counts as ``{}``.
* **Check** runs an installed command as Claude Code would — a JSON payload on a pipe as stdin, no
  terminal — with ``--check`` appended (show what would be printed, claim and record nothing) and
  reports its exit status, time, and whether stdout is empty or a JSON object within Claude Code's
  10,000-character limit. It never raises for a command that cannot run: that is what it reports.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import attrs

from datacore_msg.errors import ConfigError, InvalidInput
from datacore_msg.hooks.jsonfile import (
    describe,
    load_for_edit,
    parse_strict,
    read_bytes,
    real_path,
    write_with_backup,
)

#: Claude Code's event name → our ``hook`` subcommand for it.
EVENTS: Mapping[str, str] = {"UserPromptSubmit": "prompt", "SessionStart": "session-start"}
SCRIPT = "datacore-msg"
MODULE = "datacore_msg"
DEFAULT_TIMEOUT_S = 30
#: Claude Code cuts a hook's output longer than this to a short preview.
OUTPUT_LIMIT = 10_000


@attrs.frozen
class Change:
    """What :func:`install` or :func:`uninstall` did to ``path`` (events by Claude Code's names)."""

    path: Path
    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    backup: Path | None = None
    created: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


@attrs.frozen
class Installed:
    """One hook entry of ours: ``hooks.<event>[group].hooks[index]``."""

    event: str
    group: int
    index: int
    command: str
    timeout: float | None
    kind: str  # "prompt" or "session-start"


@attrs.frozen
class Survey:
    """A settings file as ``hook status`` sees it."""

    path: Path
    exists: bool
    ours: tuple[Installed, ...]
    other_hooks: int
    all_hooks_disabled: bool


@attrs.frozen
class Check:
    """How an installed command behaved when run with ``--check``.

    ``stdout`` is ``"empty"``, ``"json"`` (a JSON object) or ``"text"`` (anything else);
    ``problem`` says why it could not run or was stopped (then ``exit_code`` is None).
    """

    command: str
    exit_code: int | None
    elapsed_ms: int
    stdout: str
    stdout_chars: int
    stderr_line: str
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return (
            self.problem is None
            and self.exit_code == 0
            and self.stdout in ("empty", "json")
            and self.stdout_chars <= OUTPUT_LIMIT
        )


# -- where, and what --------------------------------------------------------------------------------


def user_settings_file() -> Path:
    """``$CLAUDE_CONFIG_DIR/settings.json`` if that is set, else ``~/.claude/settings.json``."""
    config_dir = os.environ.get("CLAUDE_CONFIG_DIR")
    base = Path(config_dir).expanduser() if config_dir else Path.home() / ".claude"
    return base.absolute() / "settings.json"


def project_settings_file(directory: Path) -> Path:
    """``DIR/.claude/settings.json``; DIR must be an existing directory."""
    folder = directory.expanduser().absolute()
    if not folder.is_dir():
        raise InvalidInput(f"{folder}: not an existing directory")
    return folder / ".claude" / "settings.json"


def default_exe() -> list[str]:
    """How Claude Code should start us: the ``datacore-msg`` script on PATH, else the one running,
    else this Python with ``-m datacore_msg``."""
    found = shutil.which(SCRIPT)
    if found:
        return [str(Path(found).absolute())]
    if sys.argv and sys.argv[0]:
        given = Path(sys.argv[0])
        if given.name == SCRIPT:
            resolved = given.resolve()
            candidate = resolved if resolved.name == SCRIPT else given.absolute()
            if candidate.is_file():
                return [str(candidate)]
    return [sys.executable, "-m", MODULE]


def hook_command(event: str, root: Path, space: str | None, exe: list[str] | None = None) -> str:
    """The shell command for ``event``: ``<exe> hook <kind> --root ROOT [--space SPACE]``."""
    argv = [*(exe or default_exe()), "hook", _kind_of(event), "--root", str(root)]
    if space is not None:
        argv += ["--space", space]
    return shlex.join(argv)


def is_ours(command: str) -> str | None:
    """``"prompt"`` or ``"session-start"`` if ``command`` runs that hook of ours, else None."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if len(words) >= 3 and os.path.basename(words[0]) == SCRIPT:
        rest = words[1:3]
    elif len(words) >= 5 and words[1:3] == ["-m", MODULE]:
        rest = words[3:5]
    else:
        return None
    if rest[0] == "hook" and rest[1] in EVENTS.values():
        return rest[1]
    return None


# -- editing -----------------------------------------------------------------------------------------


def install(path: Path, commands: Mapping[str, str], timeout_s: int, stamp: str) -> Change:
    """Make ``commands`` (event → command) our hooks in ``path``, each once; see the module doc."""
    for event in commands:
        _kind_of(event)
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int) or timeout_s < 1:
        raise InvalidInput(f"timeout {timeout_s!r}: must be a whole number of seconds, at least 1")
    target, raw, data = load_for_edit(path, stamp, _parse)
    added: list[str] = []
    updated: list[str] = []
    for event, command in commands.items():
        wanted: dict[str, Any] = {"type": "command", "command": command, "timeout": timeout_s}
        groups: list[Any] = data.setdefault("hooks", {}).setdefault(event, [])
        mine = [
            (g, h)
            for g, group in enumerate(groups)
            for h, entry in enumerate(group.get("hooks", []))
            if _is_our_entry(entry, EVENTS[event])
        ]
        if not mine:
            groups.append({"hooks": [wanted]})
            added.append(event)
            continue
        (first_group, first_index), extra = mine[0], mine[1:]
        entry = groups[first_group]["hooks"][first_index]
        same = all(entry.get(key) == value for key, value in wanted.items()) and _is_number(entry["timeout"])
        if not same:
            entry.update(wanted)
        if extra:
            data["hooks"][event] = _without(groups, set(extra))
        if extra or not same:
            updated.append(event)
    if not added and not updated:
        return Change(target)
    backup = write_with_backup(target, raw, data, stamp)
    return Change(target, added=tuple(added), updated=tuple(updated), backup=backup, created=raw is None)


def uninstall(path: Path, stamp: str) -> Change:
    """Remove every hook entry of ours from ``path``; see the module doc."""
    target, raw, data = load_for_edit(path, stamp, _parse)
    if raw is None:
        return Change(target)
    hooks = data.get("hooks")
    removed: list[str] = []
    if isinstance(hooks, dict):
        for event in list(hooks):
            groups = hooks[event]
            mine = {
                (g, h)
                for g, group in enumerate(groups)
                for h, entry in enumerate(group.get("hooks", []))
                if _is_our_entry(entry, None)
            }
            if not mine:
                continue
            removed.append(event)
            kept = _without(groups, mine)
            if kept:
                hooks[event] = kept
            else:
                del hooks[event]
        if removed and not hooks:
            del data["hooks"]
    if not removed:
        return Change(target)
    return Change(target, removed=tuple(removed), backup=write_with_backup(target, raw, data, stamp))


# -- reading -----------------------------------------------------------------------------------------


def survey(path: Path) -> Survey:
    """Our entries in ``path``, how many other hook entries it has, and whether it disables hooks."""
    target = real_path(path)
    raw = read_bytes(target, "")
    if raw is None:
        return Survey(target, exists=False, ours=(), other_hooks=0, all_hooks_disabled=False)
    data = _parse(target, raw, "")
    ours: list[Installed] = []
    others = 0
    for event, g, h, entry in _entries(data):
        kind = _is_our_entry(entry, None)
        if kind is None:
            others += 1
            continue
        timeout = entry.get("timeout")
        ours.append(Installed(event, g, h, entry["command"], timeout if _is_number(timeout) else None, kind))
    disabled = data.get("disableAllHooks") is True
    return Survey(target, exists=True, ours=tuple(ours), other_hooks=others, all_hooks_disabled=disabled)


def installed(path: Path) -> list[Installed]:
    """Our hook entries in ``path`` (none if it does not exist)."""
    return list(survey(path).ours)


def check_command(
    command: str, payload: Mapping[str, Any], timeout_s: float, cwd: Path | None = None
) -> Check:
    """Run ``command --check`` with ``payload`` as its stdin, as Claude Code would run the hook.

    It runs in ``cwd`` (default: an empty temporary folder), in its own session (no terminal; on a
    timeout the whole process group is killed).
    """
    try:
        argv = [*shlex.split(command), "--check"]
    except ValueError as exc:
        return Check(command, None, 0, "empty", 0, "", f"the command cannot be split into words: {exc}")
    if len(argv) == 1:
        return Check(command, None, 0, "empty", 0, "", "the command is empty")
    data = json.dumps(payload).encode("utf-8")
    with tempfile.TemporaryDirectory(prefix="datacore-msg-hook-check-") as scratch:
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd or scratch,
                start_new_session=True,
            )
        except FileNotFoundError:
            problem = f"{argv[0]}: no such executable (or its #! interpreter is missing)"
            return Check(command, None, 0, "empty", 0, "", problem)
        except OSError as exc:
            return Check(command, None, 0, "empty", 0, "", f"{argv[0]}: cannot run: {exc.strerror}")
        try:
            out, err = proc.communicate(data, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = proc.communicate()
            elapsed = _ms_since(started)
            kind, chars = _stdout_kind(out)
            problem = f"no answer within {timeout_s:g} s (Claude Code would stop it)"
            return Check(command, None, elapsed, kind, chars, _first_line(err), problem)
        elapsed = _ms_since(started)
    kind, chars = _stdout_kind(out)
    return Check(command, proc.returncode, elapsed, kind, chars, _first_line(err))


# -- helpers -----------------------------------------------------------------------------------------


def _kind_of(event: str) -> str:
    try:
        return EVENTS[event]
    except KeyError:
        raise InvalidInput(f"{event!r}: not a hook event of datacore-msg ({', '.join(EVENTS)})") from None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_our_entry(entry: object, kind: str | None) -> str | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("command"), str):
        return None
    found = is_ours(entry["command"])
    return found if kind is None or found == kind else None


def _entries(data: dict[str, Any]) -> Iterator[tuple[str, int, int, Any]]:
    for event, groups in data.get("hooks", {}).items():
        for g, group in enumerate(groups):
            for h, entry in enumerate(group.get("hooks", [])):
                yield event, g, h, entry


def _without(groups: list[Any], drop: set[tuple[int, int]]) -> list[Any]:
    """``groups`` less the entries at (group, index) in ``drop``; a group this empties is dropped."""
    kept: list[Any] = []
    for g, group in enumerate(groups):
        hits = {h for gg, h in drop if gg == g}
        if not hits:
            kept.append(group)
            continue
        entries = [entry for h, entry in enumerate(group["hooks"]) if h not in hits]
        if entries:
            group["hooks"] = entries
            kept.append(group)
    return kept


def _parse(path: Path, raw: bytes, suffix: str) -> dict[str, Any]:
    data = parse_strict(
        path,
        raw,
        suffix,
        syntax_note="settings.json allows no comments or trailing commas",
        valid_for="valid for settings.json",
    )
    _check_shape(path, data, suffix)
    return cast("dict[str, Any]", data)


def _check_shape(path: Path, data: object, suffix: str) -> None:
    def refuse(where: str, value: object, wanted: str) -> ConfigError:
        return ConfigError(f"{path}: {where} is {describe(value)}, not {wanted}{suffix}")

    if not isinstance(data, dict):
        raise refuse("the top level", data, "an object")
    if "hooks" not in data:
        return
    hooks = data["hooks"]
    if not isinstance(hooks, dict):
        raise refuse("hooks", hooks, "an object")
    for event, groups in hooks.items():
        if not isinstance(groups, list):
            raise refuse(f"hooks.{event}", groups, "a list")
        for g, group in enumerate(groups):
            if not isinstance(group, dict):
                raise refuse(f"hooks.{event}[{g}]", group, "an object")
            if "hooks" in group and not isinstance(group["hooks"], list):
                raise refuse(f"hooks.{event}[{g}].hooks", group["hooks"], "a list")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _stdout_kind(out: bytes) -> tuple[str, int]:
    text = out.decode("utf-8", errors="replace")
    if not text.strip():
        return "empty", len(text)
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        parsed = None
    return ("json" if isinstance(parsed, dict) else "text"), len(text)


def _first_line(err: bytes) -> str:
    lines = err.decode("utf-8", errors="replace").strip().splitlines()
    return lines[0][:300] if lines else ""
