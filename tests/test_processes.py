"""Real processes: a burst of sends killed with SIGKILL loses nothing that was acknowledged, and
eight processes sending at once all succeed, with complete views and a clean rebuild check."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

#: Sends messages one by one through the library, printing each id once ``send`` returned.
BURST = r"""
import sys, time
from pathlib import Path
from datacore_msg.app import messages
from datacore_msg.app.space import open_space

root, to, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
tag = sys.argv[5] if len(sys.argv) > 5 else "p"
while go != "-" and not Path(go).exists():
    time.sleep(0.002)
failures = 0
with open_space(root) as space:
    i = 0
    while count < 0 or i < count:
        try:
            result = messages.send(space, to, f"{tag} message {i}\n* not a heading")
        except Exception as exc:  # report every failure; the test asserts there are none
            failures += 1
            print(f"ERROR {type(exc).__name__}: {exc}", flush=True)
        else:
            print(result.message_id, flush=True)
        i += 1
sys.exit(1 if failures else 0)
"""


#: Sends one message, killing itself with SIGKILL once half of the views' new bytes are on disk.
KILLED_MID_APPEND = r"""
import os, signal, sys
from datacore_msg.app import messages
from datacore_msg.app.space import open_space
from datacore_msg.projections.drivers import writer

def half_then_die(path, offset, tail):
    fd = os.open(path, os.O_WRONLY)
    os.ftruncate(fd, offset)
    os.pwrite(fd, tail[: len(tail) // 2], offset)
    os.fsync(fd)
    os.kill(os.getpid(), signal.SIGKILL)

writer._write_tail = half_then_die
with open_space(sys.argv[1]) as space:
    messages.send(space, sys.argv[2], "cut in half")
"""


def burst(inst: Any, to: str, count: int, go: str = "-", tag: str = "p") -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", BURST, str(inst.root), to, str(count), go, tag],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=inst.env(),
    )


def printed_ids(out: bytes) -> list[str]:
    """Complete lines only: a line cut by the kill was never acknowledged."""
    lines = out.decode("utf-8").split("\n")[:-1]
    assert not [line for line in lines if line.startswith("ERROR")], lines
    return lines


def logged_message_ids(inst: Any) -> list[str]:
    result = inst.cli("log", "--type", "message.sent", "--json")
    assert result.code == 0, result
    return [event["data"]["id"] for event in json.loads(result.out)["data"]]


def view_ids(inst: Any, name: str) -> list[str]:
    text = inst.read(name)
    return [line.split()[1] for line in text.splitlines() if line.startswith("  :ID:")]


def assert_healthy(inst: Any) -> None:
    verify = inst.cli("verify", "--json")
    assert verify.code == 0, verify
    assert json.loads(verify.out)["data"]["problems"] == []
    check = inst.cli("rebuild", "--check")
    assert check.code == 0, check
    leftovers = [p.name for p in inst.views.rglob("*") if ".edited-" in p.name]
    assert leftovers == []


@pytest.mark.slow
def test_sigkill_in_a_burst_of_sends_loses_no_acknowledged_send(gregor: Any) -> None:
    acknowledged: list[str] = []
    for delay in (0.4, 0.9, 1.3, 0.75, 0.25, 1.1, 0.6, 0.05):
        proc = burst(gregor, "@tex", -1)
        # wait until it is well into the burst, then kill it wherever it is
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first, proc.stderr.read() if proc.stderr else ""
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        rest, _ = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        ids = printed_ids(first + rest)
        assert ids, "the burst printed nothing"
        acknowledged.extend(ids)

        logged = set(logged_message_ids(gregor))
        missing = [message for message in acknowledged if message not in logged]
        assert missing == [], f"{len(missing)} acknowledged sends are not in the log"
        # the next command brings the views up to date, without taking anything for a hand edit
        result = gregor.cli("inbox")
        assert result.code == 0 and result.err == "", result
        temps = [p.name for p in gregor.views.rglob(".*") if ".tmp-" in p.name]
        assert temps == [], "a temp file of the killed writer was left behind"
        outbox = view_ids(gregor, "outbox.org")
        assert set(acknowledged) <= set(outbox)
        assert sorted(outbox) == sorted(logged)
        assert len(outbox) == len(set(outbox))
        assert_healthy(gregor)
    assert len(acknowledged) > 20


@pytest.mark.slow
def test_a_process_killed_in_the_middle_of_appending_to_a_view_is_repaired(gregor: Any) -> None:
    first = gregor.cli("send", "@tex", "before")
    assert first.code == 0, first
    outbox = gregor.views / "outbox.org"
    old = outbox.read_bytes()
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_MID_APPEND, str(gregor.root), "@tex"],
        capture_output=True,
        env=gregor.env(),
        timeout=120,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode("utf-8", "replace")
    torn = outbox.read_bytes()
    assert torn.startswith(old) and len(torn) > len(old)
    assert b"cut in half" not in torn
    result = gregor.cli("inbox")
    assert result.code == 0 and result.err == "", result
    assert "cut in half" in gregor.read("outbox.org")
    assert_healthy(gregor)


@pytest.mark.slow
def test_sigkill_of_cli_sends_loses_no_acknowledged_send(gregor: Any, tmp_path: Path) -> None:
    """The same through the installed command: a shell loop of ``datacore-msg send``."""
    script = (
        f'i=0; while true; do "{sys.executable}" -m datacore_msg send @tex "cli $i" || exit 9; '
        "i=$((i+1)); done"
    )
    proc = subprocess.Popen(
        ["/bin/sh", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=gregor.env(),
        start_new_session=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith(b"Sent: "), proc.stderr.read() if proc.stderr else b""
    time.sleep(2.5)
    os.killpg(proc.pid, signal.SIGKILL)
    rest, _ = proc.communicate(timeout=30)
    lines = (first + rest).decode("utf-8").split("\n")[:-1]
    acknowledged = [line.removeprefix("Sent: ") for line in lines]
    assert all(line.startswith("Sent: msg-") for line in lines), lines
    assert set(acknowledged) <= set(logged_message_ids(gregor))
    assert gregor.cli("inbox").err == ""
    assert set(acknowledged) <= set(view_ids(gregor, "outbox.org"))
    assert_healthy(gregor)


PROCESSES = 8
PER_PROCESS = 200


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_eight_processes_sending_at_once_all_succeed(gregor: Any, tex: Any, tmp_path: Path) -> None:
    go = tmp_path / "go"
    procs = [burst(gregor, "@tex", PER_PROCESS, str(go), tag=f"p{n}") for n in range(PROCESSES)]
    time.sleep(0.5)  # let every interpreter start and open its space
    started = time.monotonic()
    go.touch()
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        outputs.append((proc.returncode, out, err.decode("utf-8", "replace")))
    elapsed = time.monotonic() - started
    for code, out, err in outputs:
        assert "locked" not in err and "Busy" not in err, err[-2000:]
        assert code == 0, (code, out.decode()[-2000:], err[-2000:])
    ids = [message for _, out, _ in outputs for message in printed_ids(out)]
    assert len(ids) == PROCESSES * PER_PROCESS
    assert len(set(ids)) == len(ids)

    logged = logged_message_ids(gregor)
    assert sorted(logged) == sorted(ids)
    # the views are complete as they stand, without any further command
    assert sorted(view_ids(gregor, "outbox.org")) == sorted(ids)
    assert view_ids(gregor, "inbox.org") == []
    assert_healthy(gregor)

    exported = gregor.cli("export", "-")
    imported = tex.cli("import", "-", "--json", stdin=exported.out.encode("utf-8"))
    assert imported.code == 0, imported
    assert json.loads(imported.out)["data"]["accepted"] == len(ids)
    assert sorted(view_ids(tex, "inbox.org")) == sorted(ids)
    assert_healthy(tex)
    print(f"\n{len(ids)} sends from {PROCESSES} processes in {elapsed:.1f} s")
