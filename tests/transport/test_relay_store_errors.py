"""``relay serve --data DIR`` given a path that is a file: one line saying so (it said 'cannot create
the relay's data folder: File exists')."""

from __future__ import annotations

from pathlib import Path

import pytest

from datacore_msg.errors import StorageError
from datacore_msg.transport.relay_store import open_relay_store


def test_a_data_path_that_is_a_file_is_named_as_not_a_folder(tmp_path: Path) -> None:
    path = tmp_path / "relay-data"
    path.write_text("not a folder\n", encoding="utf-8")
    with pytest.raises(StorageError, match=r"relay-data: not a folder"):
        open_relay_store(path)
    assert path.read_text(encoding="utf-8") == "not a folder\n"
