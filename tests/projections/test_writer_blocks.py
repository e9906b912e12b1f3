"""A view's block-listed digest, and changes made in place reading only the end of the file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datacore_msg.projections.drivers import writer
from datacore_msg.projections.drivers.writer import BLOCK, Edit, digest, is_ours
from datacore_msg.readmodels.viewcache import FileRecord

ENTRIES = 20000


def entry(i: int, mark: str = "") -> str:
    return f"* {mark}Message {i}\n:PROPERTIES:\n:ID: msg-{i:08d}\n:END:\nbody of message {i}, some words\n"


def view(count: int = ENTRIES) -> bytes:
    return ("#+TITLE: Inbox\n" + "".join(entry(i) for i in range(count))).encode()


def blocks(data: bytes) -> str:
    return "".join(hashlib.sha256(data[at : at + BLOCK]).hexdigest() for at in range(0, len(data), BLOCK))


def test_a_digest_lists_the_size_and_each_block_s_sha256() -> None:
    data = view()
    assert len(data) > 3 * BLOCK
    assert digest(data) == f"b1-{len(data)}-{blocks(data)}"
    assert digest(b"") == "b1-0-"
    assert digest(data) != digest(data[:-1] + b"?")


@pytest.fixture
def big(tmp_path: Path) -> tuple[Path, bytes]:
    path = tmp_path / "inbox.org"
    data = view()
    path.write_bytes(data)
    return path, data


def applied(data: bytes, edit: Edit) -> bytes:
    result = writer._apply_edit(data, edit)
    assert result is not None
    return result[0]


EDITS = {
    "mark the last entry": Edit(((entry(ENTRIES - 1), entry(ENTRIES - 1, "TODO ")),)),
    "mark two recent entries": Edit(
        ((entry(ENTRIES - 3), entry(ENTRIES - 3, "TODO ")), (entry(ENTRIES - 40), ""))
    ),
    "append one entry": Edit((), entry(ENTRIES)),
    "mark one and append": Edit(((entry(ENTRIES - 2), entry(ENTRIES - 2, "DONE ")),), entry(ENTRIES)),
    "mark an entry a few blocks back": Edit(((entry(ENTRIES - 8000), entry(ENTRIES - 8000, "TODO ")),)),
}


@pytest.mark.parametrize("name", EDITS)
def test_an_edit_in_place_gives_the_bytes_and_digests_of_the_whole_edit(
    big: tuple[Path, bytes], name: str
) -> None:
    path, data = big
    placed = writer._edit_in_place(path, digest(data), EDITS[name])
    assert placed is not None
    offset, prefix_digest, tail, new_digest = placed
    expected = applied(data, EDITS[name])
    assert data[:offset] + tail == expected
    assert prefix_digest == digest(data[:offset])
    assert new_digest == digest(expected)


def test_a_change_at_the_end_reads_about_one_block_of_a_large_file(
    big: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, data = big
    read: list[int] = []
    real = os.pread

    def counting(fd: int, length: int, offset: int) -> bytes:
        read.append(length)
        return real(fd, length, offset)

    monkeypatch.setattr(os, "pread", counting)
    assert writer._edit_in_place(path, digest(data), EDITS["mark the last entry"]) is not None
    assert sum(read) <= 2 * BLOCK < len(data) // 2


@pytest.mark.parametrize(
    ("why", "edit", "recorded"),
    [
        ("a replaced text is not in the file", Edit((("* no such entry\n", ""),)), None),
        ("a replaced text is in the file twice", Edit((("body of message 5", "x"),)), None),
        ("entries overlap", Edit(((entry(ENTRIES - 1), ""), (entry(ENTRIES - 1)[:30], ""))), None),
        ("an empty replaced text", Edit((("", "x"),)), None),
        ("the file's size is not the recorded one", EDITS["append one entry"], "b1-12-" + "00" * 32),
        ("an older, plain SHA-256 record", EDITS["append one entry"], "ab" * 32),
        ("a record that is not hex", EDITS["append one entry"], "b1-12-zz"),
        ("a record without a size", EDITS["append one entry"], "b1--" + "00" * 32),
    ],
)
def test_an_edit_that_cannot_be_placed_falls_back_to_a_render(
    big: tuple[Path, bytes], why: str, edit: Edit, recorded: str | None
) -> None:
    path, data = big
    assert writer._edit_in_place(path, recorded or digest(data), edit) is None, why


def test_a_tail_over_the_limit_falls_back_to_a_render(big: tuple[Path, bytes]) -> None:
    path, data = big
    far = Edit(((entry(10), entry(10, "TODO ")),))
    assert len(data) > writer.TAIL_LIMIT
    assert writer._edit_in_place(path, digest(data), far) is None


def test_a_view_recorded_by_an_older_version_is_still_its_own() -> None:
    data = view(50)
    plain = hashlib.sha256(data).hexdigest()
    assert is_ours(data, FileRecord("inbox.org", plain, None, False))
    assert is_ours(data, FileRecord("inbox.org", None, plain, True))
    assert not is_ours(data + b"x", FileRecord("inbox.org", plain, None, False))
    assert is_ours(data, FileRecord("inbox.org", digest(data), None, False))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    count=st.integers(1, 3000),
    marked=st.sets(st.integers(0, 2999), max_size=4),
    appended=st.integers(0, 3),
)
def test_any_edit_in_place_equals_the_whole_edit(
    tmp_path: Path, count: int, marked: set[int], appended: int
) -> None:
    data = view(count)
    path = tmp_path / "v.org"
    path.write_bytes(data)
    edit = Edit(
        tuple((entry(i), entry(i, "TODO ") if i % 2 else "") for i in sorted(marked) if i < count),
        "".join(entry(count + k) for k in range(appended)),
    )
    placed = writer._edit_in_place(path, digest(data), edit)
    expected = applied(data, edit)
    assert placed is not None  # every entry is found once, and the file is under TAIL_LIMIT
    offset, prefix_digest, tail, new_digest = placed
    assert data[:offset] + tail == expected
    assert (prefix_digest, new_digest) == (digest(data[:offset]), digest(expected))
