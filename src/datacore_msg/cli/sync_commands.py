"""``sync``: exchanging events with teammates' installations, through a shared folder
(``--folder DIR``, :mod:`datacore_msg.app.folder_sync`) or a relay (``messaging.relay.url``)."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import click

from datacore_msg.cli.common import json_option, open_space_from, space_options, warn_views
from datacore_msg.cli.output import emit_json, emit_note, emit_text, emit_warning
from datacore_msg.errors import ConfigError, DatacoreError, ImportRejected
from datacore_msg.terminal import field


@click.command(name="sync")
@click.option("--folder", "folder", default=None, metavar="DIR", help="Exchange through this shared folder.")
@click.option("--watch", is_flag=True, help="Keep exchanging until Ctrl-C or SIGTERM.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05, max=3600),
    default=1.0,
    show_default=True,
    help="Seconds between two rounds of --watch with --folder.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help=(
        "Seconds to find a relay over every URL, and the longest wait for a frame "
        "(--watch: to connect); not with --folder."
    ),
)
@json_option
@space_options
def sync_cmd(
    folder: str | None,
    watch: bool,
    interval: float,
    timeout: float,
    as_json: bool,
    root: str | None,
    space: str | None,
) -> None:
    """Send this installation's new events and receive everyone else's, then update the views.

    With --folder DIR, through a folder the team already syncs (git, Syncthing, a network share):
    this installation appends its own events to DIR/<its key>.jsonl, and verifies and stores the
    new events of every other file there. Prints what moved; exit status 11 when lines were
    rejected or files could not be synced (each named, with its reason; every valid event is
    stored).

    Without --folder, through the team's relay (messaging.relay.url): connect, exchange until both
    sides hold the same events, and print what moved and which relay was used (with a list of URLs,
    the first that works, in order; those passed over are named). With --watch, stay connected:
    teammates' events land as they come, this installation's appends (by any command or process) go
    out within a second, the status set with 'status' is announced, and a lost relay is reconnected
    (the next URL of a list at once, backoff after a full round failed). One watcher per space (a
    second one exits at once)."""
    _refuse_ignored_options(folder, watch)
    if folder is not None:
        if watch:
            _watch_folder(folder, interval, root, space)
        else:
            _sync_folder(folder, as_json, root, space)
        return
    from datacore_msg.app.space import locate

    paths, settings = locate(root, space)
    if settings.relay.url is None:
        raise ConfigError(
            f"nothing to sync with: no messaging.relay.url in {paths.settings_file} and no --folder DIR"
        )
    if watch:
        _watch_relay(timeout, root, space)
        return
    _sync_relay(timeout, as_json, root, space)


def _refuse_ignored_options(folder: str | None, watch: bool) -> None:
    """``--interval`` paces only ``--watch --folder``; ``--timeout`` bounds only a relay: given
    anywhere else they would be silently ignored, so they are refused (exit 2, in one line: a
    ``ClickException``, which click shows without the usage block a ``UsageError`` adds)."""
    ctx = click.get_current_context()

    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT

    if given("interval") and not watch:
        raise click.ClickException("sync: --interval without --watch: it paces --watch rounds only")
    if given("interval") and folder is None:
        raise click.ClickException(
            "sync: --interval without --folder: it paces --watch --folder only (a relay pushes at once)"
        )
    if given("timeout") and folder is not None:
        raise click.ClickException("sync: --timeout with --folder: it bounds waiting for a relay only")


def _sync_relay(timeout: float, as_json: bool, root: str | None, space: str | None) -> None:
    from datacore_msg.app.sync import sync_with_relay

    with open_space_from(root, space) as sp:
        result = sync_with_relay(sp, timeout)
    warn_views(result.views)
    for clash in result.clashes:
        emit_warning("clash: " + clash.describe())
    for problem in result.passed_over:
        emit_warning(f"passed over: {problem}")
    reasons = [f"received: {r}" for r in result.rejected_here] + [f"sent: {r}" for r in result.rejected_there]
    if as_json:
        emit_json(
            {
                "relay": result.url,
                "passed_over": result.passed_over,
                "sent": result.sent,
                "received": result.received,
                "rejected": reasons,
            }
        )
        return
    lines = [
        f"Synced with {result.url}: sent {result.sent}, received {result.received}, "
        f"rejected {result.rejected}"
    ]
    lines += [f"  rejected {reason}" for reason in reasons[:20]]
    if len(reasons) > 20:
        lines.append(f"  ... and {len(reasons) - 20} more")
    emit_text("\n".join(lines))


def _watch_relay(timeout: float, root: str | None, space: str | None) -> None:
    import time

    from datacore_msg.app.watch import RelayWatcher
    from datacore_msg.app.watch_lock import acquire

    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())

    def note(line: str) -> None:
        emit_note(time.strftime("%Y-%m-%dT%H:%M:%SZ ", time.gmtime()) + line)

    with open_space_from(root, space) as sp:
        lock = acquire(sp.paths.space_state_dir)
        if lock is None:
            note(f"a watcher already runs for space {sp.paths.space}; this one stops")
            return
        try:
            sp.preflight()
            watcher = RelayWatcher(sp, stopped, note, connect_timeout_s=min(timeout, 10.0))
            relays = ", ".join(watcher.urls)
            note(f"watching {relays} for space {sp.paths.space} (pid {os.getpid()}); Ctrl-C to stop")
            watcher.run()
        finally:
            lock.release()
    note("stopped watching")


def _sync_folder(folder: str, as_json: bool, root: str | None, space: str | None) -> None:
    from datacore_msg.app.folder_sync import sync_folder

    with open_space_from(root, space) as sp:
        result = sync_folder(sp, folder)
    _report(result, as_json)
    if result.rejected_count or result.problems:
        counts = [f"{result.rejected_count} line(s) rejected"] if result.rejected_count else []
        counts += [f"{len(result.problems)} file(s) not synced"] if result.problems else []
        raise ImportRejected(
            f"{field(result.folder)}: {', '.join(counts)} (listed above); every valid event was stored",
            [(r.line, f"{r.file}: {r.reason}") for r in result.rejected],
            result.rejected_count,
        )
    if as_json:
        emit_json(_as_dict(result))


def _watch_folder(folder: str, interval: float, root: str | None, space: str | None) -> None:
    from datacore_msg.app.folder_sync import FolderSyncResult, prepare_folder, watch_folder

    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    path = prepare_folder(folder)
    emit_note(f"Watching {field(path)} every {interval:g} s; Ctrl-C to stop")
    last_problems: list[str] = []

    def report(result: FolderSyncResult) -> None:
        nonlocal last_problems
        if result.moved or result.rejected_count or result.notes:
            _report(result, as_json=False)
        elif result.problems != last_problems:
            for problem in result.problems:
                emit_warning(f"not synced: {problem}")
        last_problems = result.problems

    last_error = ""

    def failed(error: DatacoreError) -> None:
        nonlocal last_error
        if str(error) != last_error:
            emit_warning(f"this round failed, trying again in {interval:g} s: {error}")
        last_error = str(error)

    watch_folder(lambda: open_space_from(root, space), path, interval, stopped, report, failed)
    emit_note("Stopped watching")


def _report(result: Any, as_json: bool) -> None:
    warn_views(result.views)
    for clash in result.clashes:
        emit_warning("clash: " + clash.describe())
    for note in result.notes:
        emit_note(note)
    for problem in result.problems:
        emit_warning(f"not synced: {problem}")
    for rejected in result.rejected:
        emit_warning(f"rejected: {rejected.describe()}")
    more = result.rejected_count - len(result.rejected)
    if more > 0:
        emit_warning(f"rejected: and {more} more line(s)")
    if not as_json:
        emit_text(
            f"{field(result.folder)}: written {result.written}, received {result.received}, "
            f"rejected {result.rejected_count}" + ("" if result.moved else " (nothing moved)")
        )


def _as_dict(result: Any) -> dict[str, Any]:
    return {
        "folder": str(result.folder),
        "written": result.written,
        "received": result.received,
        "rejected": [{"file": r.file, "line": r.line, "reason": r.reason} for r in result.rejected],
        "rejected_count": result.rejected_count,
        "problems": result.problems,
        "notes": result.notes,
    }


COMMANDS: tuple[click.Command, ...] = (sync_cmd,)
