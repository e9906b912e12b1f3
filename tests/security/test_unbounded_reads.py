"""Attack: exhaust memory, time or the write lock with input that never ends or never stops.

Run as processes, as a user (or a script fed a hostile file) would:

* ``import /dev/zero``: one "line" without end. It was read in full before its size was checked
  (out of memory); now it ends at once with one line naming ``/dev/zero:1``.
* ``send @x -`` with 64 MiB (or endless) standard input: all of it was read (2 GB: a MemoryError
  traceback); now at most the text limit + 1 byte is read and the command refuses in one line.
* A file of 10,000 bad lines printed all 10,000 reasons on one error line; now the line holds the
  first few and a count, and ``--report FILE`` gets every one.
* A big import held the write lock for its whole length (200,000 events: minutes), so a ``send``
  meanwhile waited for it or failed; now events are stored in batches and the ``send`` goes through
  within seconds.
* An import reads at most ``--max-events`` lines; the largest valid event still fits in a line.
"""

from __future__ import annotations

import json
import resource
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from datacore_msg.eventlog import codec
from datacore_msg.eventlog.canonical import canonical_text
from datacore_msg.eventlog.envelope import seal
from datacore_msg.eventlog.names import MAX_TEXT_BYTES
from datacore_msg.eventlog.payloads import MessageSent
from datacore_msg.eventlog.signing import SigningKey

MEMORY_LIMIT = 1024 * 1024 * 1024  # address space of a CLI process in these tests


def limited_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run(inst: Any, *args: str, stdin: Any = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The CLI as its own process, with at most 1 GiB of address space."""
    return subprocess.run(
        [sys.executable, "-m", "datacore_msg", *args],
        stdin=stdin,
        capture_output=True,
        text=True,
        env=inst.env(),
        timeout=timeout,
        check=False,
        preexec_fn=limited_memory,
    )


def one_line(text: str) -> str:
    assert text.count("\n") == 1 and text.endswith("\n"), text[:2000]
    return text


def forged_messages(n: int, start: int = 0) -> list[str]:
    """``n`` valid messages to gregor, sealed with a throwaway key, as export lines."""
    key = SigningKey.generate()
    now = time.time_ns() // 1_000_000 - n - 60_000
    lines, prev = [], None
    for i in range(n):
        payload = MessageSent(
            id=f"msg-20250101-000000-{start + i:08x}", sender="mallory", to="gregor", text=f"hello {i}"
        )
        event = seal(
            key,
            seq=i + 1,
            prev=prev,
            hlc=(now + i) << 16,
            actor="mallory",
            type_name=payload.TYPE,
            version=payload.VERSION,
            data=codec.encode_payload(payload),
        )
        prev = event.id
        lines.append(canonical_text(event.to_json()) + "\n")
    return lines


def test_import_of_dev_zero_ends_at_once_with_one_line(make_installation: Callable[..., Any]) -> None:
    gregor = make_installation("gregor")
    started = time.monotonic()
    result = run(gregor, "import", "/dev/zero")
    assert time.monotonic() - started < 30
    assert result.returncode == 11, result.stderr[-2000:]
    err = one_line(result.stderr)
    assert "/dev/zero" in err and "line 1" in err and "not read" in err
    assert "Traceback" not in err
    with open("/dev/zero", "rb") as zero:
        from_stdin = run(gregor, "import", "-", stdin=zero)
    assert from_stdin.returncode == 11, from_stdin.stderr[-2000:]
    one_line(from_stdin.stderr)


def test_send_from_huge_or_endless_stdin_is_refused_in_one_line(
    make_installation: Callable[..., Any], tmp_path: Path
) -> None:
    gregor = make_installation("gregor")
    big = tmp_path / "64mib"
    with open(big, "wb") as handle:
        handle.truncate(64 * 1024 * 1024)  # a sparse file: 64 MiB of NUL bytes
    for source in (big, Path("/dev/zero")):
        with open(source, "rb") as stdin:
            result = run(gregor, "send", "@gregor", "-", stdin=stdin)
        assert result.returncode == 3, result.stderr[-2000:]
        err = one_line(result.stderr)
        assert f"standard input is over the limit of {MAX_TEXT_BYTES} bytes" in err
    assert json.loads(gregor.run("inbox", "--all", "--json").out)["data"] == []


def test_send_of_exactly_the_limit_from_stdin_still_works(make_installation: Callable[..., Any]) -> None:
    gregor = make_installation("gregor")
    result = gregor.run("send", "@gregor", "-", "--json", stdin=b"x" * MAX_TEXT_BYTES)
    assert result.code == 0, result.err


def test_ten_thousand_bad_lines_give_a_short_error_and_a_full_report(
    make_installation: Callable[..., Any], tmp_path: Path
) -> None:
    gregor = make_installation("gregor")
    hostile = tmp_path / "bad.jsonl"
    good = forged_messages(2)
    hostile.write_text(good[0] + "not json\n" * 10_000 + good[1], encoding="utf-8")
    report = tmp_path / "report.jsonl"
    result = run(gregor, "import", str(hostile), "--report", str(report))
    assert result.returncode == 11, result.stderr[-2000:]
    err = one_line(result.stderr)
    assert len(err) < 2000
    assert "Imported 2 new event(s), 0 already present, 10000 rejected" in err
    assert "line 2: not valid JSON" in err and "and 9995 more" in err and str(report) in err
    rows = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    assert [row["line"] for row in rows] == list(range(2, 10_002))
    assert all(row["reason"].startswith("not valid JSON") for row in rows)

    as_json = run(gregor, "import", str(hostile), "--json")
    assert as_json.returncode == 11
    error = json.loads(as_json.stdout)["error"]
    assert len(as_json.stdout) < 4000
    assert error["rejected_count"] == 10_000 and len(error["rejected"]) == 5
    assert "--report FILE lists them all" in error["message"]


def test_import_reads_at_most_max_events_lines(make_installation: Callable[..., Any], tmp_path: Path) -> None:
    gregor = make_installation("gregor")
    path = tmp_path / "thirty.jsonl"
    path.write_text("".join(forged_messages(30)), encoding="utf-8")
    result = run(gregor, "import", str(path), "--max-events", "10")
    assert result.returncode == 11, result.stderr
    err = one_line(result.stderr)
    assert "Imported 10 new event(s)" in err and "over 10 lines" in err and "after line 10" in err
    again = run(gregor, "import", str(path))  # the rest, the first ten already present
    assert again.returncode == 0, again.stderr
    assert "Imported 20 new event(s), 10 already present, 0 rejected." in again.stdout


def test_the_largest_valid_event_still_fits_in_an_import_line(
    make_installation: Callable[..., Any], tmp_path: Path
) -> None:
    """A 64 KiB text of control characters is written ``\\u00XX`` in JSON: about 400 KiB."""
    gregor, tex = make_installation("gregor"), make_installation("tex")
    sent = tex.run("send", "@gregor", "-", "--json", stdin=b"\x01" * MAX_TEXT_BYTES)
    assert sent.code == 0, sent.err
    export = tmp_path / "tex.jsonl"
    assert tex.run("export", str(export)).code == 0
    assert max(len(line) for line in export.read_bytes().splitlines()) > 256 * 1024
    result = run(gregor, "import", str(export))
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.slow
def test_send_during_a_big_import_goes_through_within_seconds(
    make_installation: Callable[..., Any], tmp_path: Path
) -> None:
    gregor = make_installation("gregor")
    big = tmp_path / "big.jsonl"
    count = 30_000
    big.write_text("".join(forged_messages(count)), encoding="utf-8")
    db = gregor.state / "spaces" / gregor.space_name / "events.sqlite3"

    def stored() -> int:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
        finally:
            conn.close()

    importer = subprocess.Popen(
        [sys.executable, "-m", "datacore_msg", "import", str(big)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=gregor.env(),
    )
    try:
        begun = time.monotonic()
        while stored() == 0 and time.monotonic() - begun < 5:  # well under way
            assert importer.poll() is None, importer.communicate()
            time.sleep(0.2)
        started = time.monotonic()
        sent = gregor.run("send", "@gregor", "sent during the import", "--json")
        took = time.monotonic() - started
        assert sent.code == 0, sent.err
        assert took < 10, f"send took {took:.1f} s during the import"
        assert importer.poll() is None, "the import ended before the send: make it bigger"
        out, err = importer.communicate(timeout=600)
    finally:
        if importer.poll() is None:
            importer.kill()
            importer.wait()
    assert importer.returncode == 0, err.decode()[-2000:]
    assert f"Imported {count} new event(s)".encode() in out
    assert stored() == count + 1
    listed = gregor.run("inbox", "--json")
    assert listed.code == 0, listed.err
    inbox = json.loads(listed.out)["data"]
    assert json.loads(sent.out)["data"]["id"] in {item["id"] for item in inbox}
