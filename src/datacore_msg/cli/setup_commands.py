"""Getting started: ``init`` (settings, folders, signing key) and the ``demo``."""

from __future__ import annotations

import sys

import click

from datacore_msg.cli.common import space_options
from datacore_msg.cli.output import emit_text, emit_warning
from datacore_msg.errors import InvalidInput


@click.command()
@click.option("--name", default=None, help="Your user name (asked on a terminal if missing).")
@click.option("--timezone", "tz", default=None, help="IANA time zone for the views (default UTC).")
@click.option("--force", is_flag=True, help="Change existing settings (a .bak copy is kept).")
@click.option(
    "--relink",
    is_flag=True,
    help="Point a moved or restored root at its state folder (key and log) again.",
)
@click.option("--state-dir", "state_dir", default=None, help="With --relink: the state folder to use.")
@space_options
def init(
    name: str | None,
    tz: str | None,
    force: bool,
    relink: bool,
    state_dir: str | None,
    root: str | None,
    space: str | None,
) -> None:
    """Create settings, the space's folders and this installation's signing key (--relink: find
    them again after the root was moved or restored)."""
    from datacore_msg.app.setup import describe_paths
    from datacore_msg.app.setup import init as do_init

    if state_dir is not None and not relink:
        raise InvalidInput("--state-dir goes with --relink")
    if relink:
        from datacore_msg.app.setup import relink as do_relink

        linked = do_relink(root, space, state_dir)
        lines = [
            f"Linked: {linked.name} in space {linked.paths.space}",
            f"  public key:  {linked.public_key}",
        ]
        lines += [f"  {label + ':':<12} {path}" for label, path in describe_paths(linked.paths).items()]
        emit_text("\n".join(lines))
        return
    if name is None:
        if not sys.stdin.isatty():
            raise InvalidInput("--name is required (no terminal to ask on)")
        name = click.prompt("Your user name")
    if tz is None and sys.stdin.isatty():
        tz = click.prompt("Time zone (IANA name; empty keeps the current one)", default="")
    result = do_init(name, space, tz or None, root, force)
    for warning in result.warnings:
        emit_warning(warning)
    lines = [f"Ready: {result.name} in space {result.paths.space}"]
    lines.append(f"  public key:  {result.public_key}" + (" (new)" if result.created_key else ""))
    for label, path in describe_paths(result.paths).items():
        lines.append(f"  {label + ':':<12} {path}")
    emit_text("\n".join(lines))


@click.command()
@click.option("--keep", "keep", default=None, help="Keep the demo's files in this folder.")
def demo(keep: str | None) -> None:
    """Two users exchange messages by export/import in a throwaway folder; show their views."""
    from datacore_msg.app.demo import run_demo

    emit_text(run_demo(keep))


COMMANDS: tuple[click.Command, ...] = (init, demo)
