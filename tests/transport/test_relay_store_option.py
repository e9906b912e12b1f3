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


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--store", "postgres://x"), "HOST:PORT"),
        (("--store", "nats://"), "HOST:PORT"),
        (("--store", "nats://host"), "HOST:PORT"),
        (("--store", "nats://host:notaport"), "HOST:PORT"),
        (("--store", "nats://127.0.0.1:1", "--stream", "a.b"), "stream name"),
        (("--store", "sqlite:"), "sqlite:PATH"),
    ],
)
def test_a_wrong_store_option_is_refused_in_one_line_as_a_settings_error(
    tmp_path: Path, args: tuple[str, ...], named: str
) -> None:
    proc = RelayProcess(tmp_path / "data", args=args)
    done = subprocess.run(
        proc.command(), env=proc.env(), capture_output=True, timeout=60, check=False, cwd=tmp_path
    )
    assert done.returncode == Exit.CONFIG, done
    err = done.stderr.decode()
    assert err.count("\n") == 1 and named in err
    assert not (tmp_path / "relay-events.sqlite").exists()  # `sqlite:` made no log in the folder it runs in
