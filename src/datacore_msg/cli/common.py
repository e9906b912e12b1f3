"""What every command shares: ``--space``/``--root`` and ``--json``, opening the space (and, for a
command that appends, pushing what it appended to the relay), and printing the views' warnings.
Click is imported by the decorators only, so the click-free fast path
(:mod:`datacore_msg.cli.fastpath`) may use the rest."""

from __future__ import annotations

from datacore_msg.records import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    F = TypeVar("F", bound=Callable[..., Any])


def space_options(func: F) -> F:
    """``--space`` and ``--root`` on every command."""
    import functools

    import click

    @click.option("--space", "space", default=None, help="Space to use (default: from settings).")
    @click.option(
        "--root",
        "root",
        default=None,
        envvar="DATACORE_ROOT",
        show_envvar=True,
        help="Datacore root folder (default ~/Data).",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def json_option(func: F) -> F:
    import click

    return click.option("--json", "as_json", is_flag=True, help="Print JSON (versioned envelope).")(func)


def open_space_from(root: str | None, space: str | None) -> Any:
    from datacore_msg.app.space import open_space

    return open_space(root, space)


class open_space_to_append:  # used as a function in a with statement (without importing contextlib)
    """:func:`open_space_from` for a command that appends: once its body succeeded, what it appended
    is pushed to the relay (:func:`push_appended`) before the space closes."""

    def __init__(self, root: str | None, space: str | None) -> None:
        self.opened = open_space_from(root, space)

    def __enter__(self) -> Any:
        self.space = self.opened.__enter__()
        return self.space

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        try:
            if kind is None:
                push_appended(self.space)
        finally:
            self.opened.__exit__(kind, exc, tb)


def push_appended(sp: Any) -> None:
    """Push-on-append (:func:`datacore_msg.app.push.push_after_append`): nothing without a relay or
    with a watcher running; a relay that cannot be reached is one warning line (exit status 0)."""
    if sp.settings.relay.url is None:  # what push_after_append checks first, without importing it
        return
    from datacore_msg.app.push import push_after_append
    from datacore_msg.cli.output import emit_warning

    outcome = push_after_append(sp)
    if outcome.problem is not None:
        emit_warning(outcome.problem)
    warn_views(outcome.views)


def warn_views(report: Any) -> None:
    """Print the warnings of a views write (hand edits kept aside), if there was one."""
    from datacore_msg.cli.output import emit_warning

    if report is not None:
        for warning in report.warnings:
            emit_warning(warning)
