"""``datacore-msg mcp``: run the MCP server on stdio; ``mcp install``, ``uninstall``, ``status``:
its registration in Claude Code's ``~/.claude.json`` or a project's ``.mcp.json``.

Each turns its options into one call of :mod:`datacore_msg.mcp.server` or
:mod:`datacore_msg.mcp.install`. While the server runs, stdout is the protocol's: nothing here
prints then; a failure before it starts (no installation) is one line on stderr and an exit status.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from datacore_msg.cli.claude_config import emit_change, show_status, stamp, target_options
from datacore_msg.cli.common import json_option, space_options
from datacore_msg.terminal import printable

if TYPE_CHECKING:
    from datacore_msg.mcp.install import Survey
    from datacore_msg.mcp.probe import Probe

_USER_HELP = "Your user config: ~/.claude.json (or $CLAUDE_CONFIG_DIR/.claude.json)."
_PROJECT_HELP = "The project in DIR: DIR/.mcp.json (shared with everyone who opens the project)."


def _target(user: bool, project: str | None) -> Path:
    from datacore_msg.cli.claude_config import target
    from datacore_msg.mcp.install import project_config_file, user_config_file

    return target(user, project, user_config_file, project_config_file)


@click.group(name="mcp", invoke_without_command=True)
@space_options
@click.pass_context
def mcp_group(ctx: click.Context, root: str | None, space: str | None) -> None:
    """Run the MCP server on stdio (Claude Code starts it), acting as your agent on your space.

    Its tools (list_inbox, read_message, send_message, reply, search_messages, list_tasks,
    claim_task, complete_task, retry_task, mark) call the same functions as the commands. Register
    it with 'datacore-msg mcp install'.
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"root": root, "space": space}  # 'mcp --root X install' means install's --root X
        return
    from datacore_msg.app.space import open_space

    open_space(root, space).close()  # a missing installation fails here, as one line on stderr
    from datacore_msg.mcp.server import serve

    serve(root, space)


@mcp_group.command(name="install")
@target_options(_USER_HELP + " The default.", _PROJECT_HELP)
@json_option
@space_options
@click.pass_context
def install(
    ctx: click.Context, user: bool, project: str | None, as_json: bool, root: str | None, space: str | None
) -> None:
    """Register the MCP server for Claude Code (run again after moving datacore-msg).

    It runs this datacore-msg with 'mcp --root ROOT' (resolved now) and --space if given. Every other
    server and key is kept; the previous file is kept next to it as
    <name>.datacore-msg-<UTC time>.bak. A file that is not valid JSON is never overwritten.
    """
    from datacore_msg.cli.claude_config import warn_if_not_initialised
    from datacore_msg.config.paths import resolve_root
    from datacore_msg.mcp import install as registry

    given = ctx.obj or {}
    root = root or given.get("root")
    space = space or given.get("space")
    target = _target(user, project)
    root_path = resolve_root(root)
    entry = registry.server_entry(root_path, space)
    change = registry.install(target, entry, stamp())
    warn_if_not_initialised(root_path)
    how = "registered" if change.added else "updated"
    emit_change(
        change,
        as_json,
        {"entry": entry},
        "Already registered in",
        lambda: f"MCP server {registry.SERVER_NAME} {how} in {printable(str(change.path))}",
    )


@mcp_group.command(name="uninstall")
@target_options(_USER_HELP + " The default.", _PROJECT_HELP)
@json_option
def uninstall(user: bool, project: str | None, as_json: bool) -> None:
    """Remove the datacore-msg MCP server from Claude Code's config; nothing else is changed."""
    from datacore_msg.mcp import install as registry

    change = registry.uninstall(_target(user, project), stamp())
    emit_change(
        change,
        as_json,
        {},
        "No datacore-msg MCP server in",
        lambda: f"Removed {registry.SERVER_NAME} from {printable(str(change.path))}",
    )


def _check_text(check: Probe) -> str:
    if check.ok:
        return f"runs: {len(check.tools)} tools in {check.elapsed_ms} ms"
    stderr = f"; stderr: {printable(check.stderr_line)}" if check.stderr_line else ""
    return f"FAILS: {printable(check.problem or '')}{stderr}"


@mcp_group.command(name="status")
@target_options(_USER_HELP, _PROJECT_HELP)
@json_option
def status(user: bool, project: str | None, as_json: bool) -> None:
    """Show the datacore-msg MCP server in Claude Code's configs and whether it runs.

    Without --user or --project: your user config and ./.mcp.json here. A registered server is
    started as Claude Code would start it; a session is opened and its tools listed. Exit status 7
    if a config file cannot be read.
    """
    from datacore_msg.mcp import install as registry

    files: list[tuple[str, Path]] = []
    if user or project is None:
        files.append(("user", registry.user_config_file()))
    if project is not None:
        files.append(("project", registry.project_config_file(Path(project))))
    elif not user:
        files.append(("project", Path.cwd().absolute() / ".mcp.json"))

    def fields(found: Survey) -> dict[str, Any]:
        return {"entry": found.entry, "check": None, "other_servers": list(found.other_servers)}

    def describe(scope: str, found: Survey, report: dict[str, Any], lines: list[str]) -> None:
        if found.entry is None:
            lines.append("  no datacore-msg MCP server (datacore-msg mcp install)")
        else:
            argv = [str(found.entry.get("command")), *map(str, found.entry.get("args") or [])]
            lines.append(f"  {registry.SERVER_NAME}: {printable(' '.join(argv))}")
            # A project's file comes with the project: only our own server is started from it.
            refused = registry.not_ours(found.entry) if scope == "project" else None
            if refused is not None:
                report["check"] = {"ok": False, "started": False, "problem": refused}
                lines.append(f"    not started: {printable(refused)} (a project file may name any program)")
            else:
                from datacore_msg.mcp.probe import probe

                check = probe(found.entry)
                report["check"] = {
                    "ok": check.ok,
                    "started": True,
                    "tools": list(check.tools),
                    "elapsed_ms": check.elapsed_ms,
                    "problem": check.problem,
                    "stderr": check.stderr_line,
                }
                lines.append(f"    {_check_text(check)}")
        lines.append(f"  other servers: {len(found.other_servers)}")

    show_status(files, registry.survey, {"entry": None, "other_servers": None}, fields, describe, as_json)


COMMANDS: tuple[click.Command, ...] = (mcp_group,)
