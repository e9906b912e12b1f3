"""``relay serve --store``: ``sqlite:PATH`` keeps the relay's log in that folder (``--data`` unused),
anything but ``sqlite:`` or ``nats://`` is refused in one line with a typed exit code."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from datacore_msg.cli.exit_codes import Exit
from relayclient import well_behaved_sync
from relayproc import RelayProcess

pytestmark = pytest.mark.slow


def test_a_sqlite_store_keeps_the_log_in_the_folder_it_names(tmp_path: Path) -> None:
    folder = tmp_path / "named"
    relay = RelayProcess(folder, args=("--store", f"sqlite:{folder}")).start()
    try:
        well_behaved_sync(relay, tmp_path)  # reads the relay's log from `folder`
        assert (folder / "relay-events.sqlite").exists()
    finally:
        relay.close()


@pytest.mark.parametrize("store", ["postgres://x", "nats://", "nats://host"])
def test_a_store_that_is_neither_sqlite_nor_nats_is_refused_in_one_line(tmp_path: Path, store: str) -> None:
    proc = RelayProcess(tmp_path / "data", args=("--store", store))
    done = subprocess.run(proc.command(), env=proc.env(), capture_output=True, timeout=60, check=False)
    assert done.returncode in (Exit.CONFIG, Exit.STORAGE), done
    err = done.stderr.decode()
    assert err.count("\n") == 1 and "HOST:PORT" in err
