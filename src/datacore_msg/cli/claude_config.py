"""What ``hook install|uninstall|status`` and ``mcp install|uninstall|status`` share: the
``--user``/``--project`` choice of Claude Code config file, how a change is printed, and the
status report's walk over config files (one that cannot be read is reported and gives exit 7).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import click

from datacore_msg.cli.output import emit_json, emit_text, emit_warning
from datacore_msg.terminal import printable

if TYPE_CHECKING:
    from datacore_msg.hooks.install import Change

_F = TypeVar("_F", bound=Callable[..., Any])


class Surveyed(Protocol):
    """What a config file's survey says in common: where it is, and whether it exists."""

    @property
    def path(self) -> Path: ...
    @property
    def exists(self) -> bool: ...


_S = TypeVar("_S", bound=Surveyed)


def target_options(user_help: str, project_help: str) -> Callable[[_F], _F]:
    """``--user`` and ``--project DIR`` (see :func:`target`)."""

    def decorate(func: _F) -> _F:
        func = click.option("--project", "project", default=None, metavar="DIR", help=project_help)(func)
        return click.option("--user", "user", is_flag=True, help=user_help)(func)

    return decorate


def target(
    user: bool, project: str | None, user_file: Callable[[], Path], project_file: Callable[[Path], Path]
) -> Path:
    """The file ``--user`` (the default) or ``--project DIR`` names."""
    from datacore_msg.errors import InvalidInput

    if user and project is not None:
        raise InvalidInput("--user and --project are mutually exclusive")
    return project_file(Path(project)) if project is not None else user_file()


def stamp() -> str:
    """Now, UTC, as a backup's stamp."""
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def change_dict(change: Change) -> dict[str, Any]:
    return {
        "path": str(change.path),
        "changed": change.changed,
        "added": list(change.added),
        "updated": list(change.updated),
        "removed": list(change.removed),
        "backup": None if change.backup is None else str(change.backup),
        "created": change.created,
    }


def backup_note(change: Change) -> str:
    if change.backup is not None:
        return f" (backup: {change.backup})"
    return " (new file)" if change.created else ""


def warn_if_not_initialised(root: Path) -> None:
    from datacore_msg.config.paths import settings_path

    if not settings_path(root).exists():
        emit_warning(f"{root} has no datacore-msg settings yet (datacore-msg init --root {root})")


def emit_change(
    change: Change, as_json: bool, extra: dict[str, Any], unchanged: str, done: Callable[[], str]
) -> None:
    """``change`` as JSON (with ``extra``), else ``unchanged`` or ``done()`` and the backup note."""
    if as_json:
        emit_json({**change_dict(change), **extra})
    elif not change.changed:
        emit_text(f"{unchanged} {printable(str(change.path))}; nothing changed")
    else:
        emit_text(f"{done()}{backup_note(change)}")


def show_status(
    files: list[tuple[str, Path]],
    survey: Callable[[Path], _S],
    unreadable: dict[str, Any],
    fields: Callable[[_S], dict[str, Any]],
    describe: Callable[[str, _S, dict[str, Any], list[str]], None],
    as_json: bool,
) -> None:
    """Survey each (scope, file) and show what was found; exit 7 if one could not be read.

    A file that cannot be read is reported with ``unreadable``'s fields; one that exists with
    ``fields(found)``, and ``describe`` adds its lines and any further fields to its report.
    """
    from datacore_msg.cli.exit_codes import Exit
    from datacore_msg.errors import ConfigError

    reports: list[dict[str, Any]] = []
    lines: list[str] = []
    failed = False
    for scope, path in files:
        report: dict[str, Any] = {"scope": scope, "path": str(path)}
        reports.append(report)
        try:
            found = survey(path)
        except ConfigError as exc:
            failed = True
            report.update(exists=path.exists(), error=str(exc), **unreadable)
            lines.append(f"{printable(str(path))} ({scope}): cannot read: {printable(str(exc))}")
            continue
        report.update(path=str(found.path), exists=found.exists, error=None, **fields(found))
        lines.append(f"{printable(str(found.path))} ({scope})")
        if not found.exists:
            lines.append("  does not exist")
            continue
        describe(scope, found, report, lines)
    if as_json:
        emit_json({"files": reports})
    else:
        emit_text("\n".join(lines))
    if failed:
        raise SystemExit(Exit.CONFIG)
