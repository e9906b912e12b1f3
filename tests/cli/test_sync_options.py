"""``sync`` refuses option combinations it would otherwise ignore: ``--interval`` only paces
``--watch --folder``, and ``--timeout`` only bounds a relay; each gets a one-line usage error (exit 2)
naming the combination, and nothing is synced."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from datacore_msg.cli.exit_codes import Exit


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--interval", "5"], "--interval without --watch"),
        (["--folder", "{folder}", "--interval", "5"], "--interval without --watch"),
        (["--watch", "--interval", "5"], "--interval without --folder"),
        (["--folder", "{folder}", "--timeout", "5"], "--timeout with --folder"),
        (["--folder", "{folder}", "--watch", "--timeout", "5"], "--timeout with --folder"),
    ],
)
def test_an_option_that_would_be_ignored_is_refused(
    make_installation: Callable[..., Any], tmp_path: Path, args: list[str], named: str
) -> None:
    inst = make_installation("tex")
    folder = tmp_path / "shared"
    result = inst.cli("sync", *[a.replace("{folder}", str(folder)) for a in args])
    assert result.code == Exit.USAGE, result
    assert result.err.count("\n") == 1 and named in result.err, result.err
    assert not folder.exists()  # nothing was synced


def test_a_folder_sync_without_them_runs(make_installation: Callable[..., Any], tmp_path: Path) -> None:
    inst = make_installation("tex")
    folder = tmp_path / "shared"
    result = inst.cli("sync", "--folder", str(folder))
    assert result.code == 0, result
    assert folder.is_dir()
