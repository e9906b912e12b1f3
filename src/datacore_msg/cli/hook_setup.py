"""``hook install``, ``hook uninstall``, ``hook status``: datacore-msg's hooks in Claude Code's settings.

Each turns its options into one call of :mod:`datacore_msg.hooks.install` and prints the result. They
are added to the ``hook`` group (with the hooks Claude Code runs) where that group is defined.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from datacore_msg.cli.claude_config import emit_change, show_status, stamp, target_options
from datacore_msg.cli.common import json_option, space_options
from datacore_msg.terminal import printable

if TYPE_CHECKING:
    from datacore_msg.hooks.install import Check, Survey

_USER_HELP = "Your user settings: ~/.claude/settings.json, or $CLAUDE_CONFIG_DIR/settings.json."
_PROJECT_HELP = "The settings of the project in DIR: DIR/.claude/settings.json."
STATUS_SESSION_ID = "datacore-msg-hook-status"


def _target(user: bool, project: str | None) -> Path:
    from datacore_msg.cli.claude_config import target
    from datacore_msg.hooks.install import project_settings_file, user_settings_file

    return target(user, project, user_settings_file, project_settings_file)


@click.command(name="install")
@target_options(_USER_HELP + " The default.", _PROJECT_HELP)
@click.option(
    "--no-session-start",
    "no_session_start",
    is_flag=True,
    help="Only the prompt hook; an installed session-start hook is left as it is.",
)
@click.option(
    "--timeout",
    "timeout",
    type=click.IntRange(min=1, max=600),
    default=30,
    show_default=True,
    help="Seconds Claude Code gives each hook before stopping it.",
)
@json_option
@space_options
def install(
    user: bool,
    project: str | None,
    no_session_start: bool,
    timeout: int,
    as_json: bool,
    root: str | None,
    space: str | None,
) -> None:
    """Add datacore-msg's hooks to Claude Code's settings.json (run again after moving datacore-msg).

    The prompt hook (UserPromptSubmit) shows new messages and tasks as you type; the session-start
    hook (SessionStart) shows them when a session starts. Both run this datacore-msg with --root
    (resolved now) and --space if given. Other settings and hooks are kept; the previous file is
    kept next to it as <name>.datacore-msg-<UTC time>.bak. A file that is not valid JSON (comments
    are not allowed in settings.json) is never overwritten.
    """
    from datacore_msg.cli.claude_config import warn_if_not_initialised
    from datacore_msg.config.paths import resolve_root
    from datacore_msg.hooks import install as hooks

    target = _target(user, project)
    root_path = resolve_root(root)
    events = ["UserPromptSubmit"] if no_session_start else ["UserPromptSubmit", "SessionStart"]
    commands = {event: hooks.hook_command(event, root_path, space) for event in events}
    change = hooks.install(target, commands, timeout, stamp())
    warn_if_not_initialised(root_path)

    def done() -> str:
        events_done = [*change.added, *(f"{event} (updated)" for event in change.updated)]
        return f"Installed in {printable(str(change.path))}: {', '.join(events_done)}"

    emit_change(change, as_json, {"commands": commands}, "Already installed in", done)


@click.command(name="uninstall")
@target_options(_USER_HELP + " The default.", _PROJECT_HELP)
@json_option
def uninstall(user: bool, project: str | None, as_json: bool) -> None:
    """Remove datacore-msg's hooks from Claude Code's settings.json; nothing else is changed.

    The previous file is kept next to it as <name>.datacore-msg-<UTC time>.bak.
    """
    from datacore_msg.hooks import install as hooks

    change = hooks.uninstall(_target(user, project), stamp())
    emit_change(
        change,
        as_json,
        {},
        "Nothing of datacore-msg's in",
        lambda: f"Removed from {printable(str(change.path))}: {', '.join(change.removed)}",
    )


def _payload(event: str, cwd: Path) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "session_id": STATUS_SESSION_ID,
        "hook_event_name": event,
        "cwd": str(cwd),
        "prompt": "",
        "transcript_path": "",
    }
    if event == "SessionStart":
        payload["source"] = "startup"
    return payload


def _check_dict(check: Check) -> dict[str, Any]:
    return {
        "ok": check.ok,
        "exit_code": check.exit_code,
        "elapsed_ms": check.elapsed_ms,
        "stdout": check.stdout,
        "stdout_chars": check.stdout_chars,
        "stderr": check.stderr_line,
        "problem": check.problem,
    }


def _check_text(check: Check) -> str:
    from datacore_msg.hooks.install import OUTPUT_LIMIT

    if check.problem is not None:
        return f"FAILS: does not run: {printable(check.problem)}"
    parts = [f"exit {check.exit_code} in {check.elapsed_ms} ms"]
    if check.exit_code == 2:
        parts.append("Claude Code would block the prompt")
    parts.append("no output" if check.stdout == "empty" else f"{check.stdout_chars} chars of {check.stdout}")
    if check.stdout == "text":
        parts[-1] += " (expected nothing or a JSON object)"
    if check.stdout_chars > OUTPUT_LIMIT:
        parts.append(f"over Claude Code's {OUTPUT_LIMIT:,}-character limit")
    if check.stderr_line:
        parts.append(f"stderr: {printable(check.stderr_line)}")
    return ("runs: " if check.ok else "FAILS: ") + ", ".join(parts)


@click.command(name="status")
@target_options(_USER_HELP, _PROJECT_HELP)
@json_option
def status(user: bool, project: str | None, as_json: bool) -> None:
    """Show datacore-msg's hooks in Claude Code's settings and whether each runs.

    Without --user or --project: your user settings and ./.claude/settings.json here. Each hook of
    ours is run as Claude Code would run it, with --check (it shows what it would print and claims
    and records nothing). Exit status 7 if a settings file cannot be read.
    """
    from datacore_msg.hooks import install as hooks

    cwd = Path.cwd()
    files: list[tuple[str, Path]] = []
    if user or project is None:
        files.append(("user", hooks.user_settings_file()))
    if project is not None:
        files.append(("project", hooks.project_settings_file(Path(project))))
    elif not user and (cwd / ".claude" / "settings.json") != files[0][1]:
        files.append(("project", cwd / ".claude" / "settings.json"))

    def fields(found: Survey) -> dict[str, Any]:
        return {"all_hooks_disabled": found.all_hooks_disabled, "other_hooks": found.other_hooks, "hooks": []}

    def describe(scope: str, found: Survey, report: dict[str, Any], lines: list[str]) -> None:
        if found.all_hooks_disabled:
            lines.append("  disableAllHooks is true: Claude Code runs no hooks from it")
        if not found.ours:
            lines.append("  no datacore-msg hooks (datacore-msg hook install)")
        for entry in found.ours:
            timeout = entry.timeout if entry.timeout is not None else hooks.DEFAULT_TIMEOUT_S
            check = hooks.check_command(entry.command, _payload(entry.event, cwd), timeout)
            report["hooks"].append(
                {
                    "event": entry.event,
                    "group": entry.group,
                    "command": entry.command,
                    "timeout": entry.timeout,
                    "check": _check_dict(check),
                }
            )
            lines.append(f"  {printable(entry.event)}: {printable(entry.command)}  (timeout {timeout:g} s)")
            lines.append(f"    {_check_text(check)}")
        lines.append(f"  other hooks: {found.other_hooks}")

    show_status(files, hooks.survey, {"hooks": [], "other_hooks": None}, fields, describe, as_json)


COMMANDS: tuple[click.Command, ...] = (install, uninstall, status)
