"""Ctrl-C ends a command with status 130 (README, "Exit codes"), also inside a click command,
where click turns the ``KeyboardInterrupt`` into ``Abort``; a declined question stays "aborted", 2."""

from __future__ import annotations

import io

import click
import pytest

from datacore_msg.cli.boundary import guarded
from datacore_msg.cli.exit_codes import Exit


@click.command()
def interrupted() -> None:
    raise KeyboardInterrupt


@click.command()
def declined() -> None:
    click.confirm("Send anyway?", abort=True, default=False)


def test_ctrl_c_inside_a_command_is_status_130_and_says_what_is_kept(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert guarded(interrupted, [], "datacore-msg") == 130
    assert "interrupted; every command that returned success is stored" in capsys.readouterr().err


def test_a_declined_question_is_still_aborted_with_the_usage_status(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert guarded(declined, [], "datacore-msg") == Exit.USAGE
    assert "aborted" in capsys.readouterr().err
