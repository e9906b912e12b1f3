"""``send`` to a name nobody here has heard of (a typo such as ``@bbo``): a one-line warning when
not on a terminal (still sent, exit 0), a confirmation on a terminal, an error with ``--strict``;
no warning for this user, a name in ``contacts.yaml`` (with or without a key) or one seen in the log."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from datacore_msg.cli.exit_codes import Exit

WARNING = (
    "datacore-msg: warning: @{name} is not in contacts.yaml and was never seen in the log "
    "(a typo?); sent anyway (--strict refuses such names)\n"
)


def count(inst: Any) -> int:
    with inst.space() as space:
        return space.store.count()


def test_an_unknown_name_warns_in_one_line_and_still_sends(gregor: Any) -> None:
    before = count(gregor)
    result = gregor.cli("send", "@bbo", "typo")
    assert result.code == 0, result
    assert result.out.startswith("Sent: msg-")
    assert result.err == WARNING.format(name="bbo")
    assert count(gregor) == before + 1
    # the task to an unknown agent too, with the agent's name
    task = gregor.cli("send", "@bbx-claude", "typo too")
    assert (task.code, task.err) == (0, WARNING.format(name="bbx-claude"))


def test_strict_refuses_an_unknown_name_and_stores_nothing(gregor: Any) -> None:
    before = count(gregor)
    result = gregor.cli("send", "@bbo", "typo", "--strict")
    assert result.code == Exit.NOT_FOUND, result
    assert result.err.count("\n") == 1 and "@bbo is not in contacts.yaml" in result.err
    assert count(gregor) == before
    as_json = gregor.cli("send", "@bbo", "typo", "--strict", "--json")
    assert as_json.code == Exit.NOT_FOUND and '"not_found"' in as_json.out


@pytest.mark.parametrize("how", ["self", "own-agent", "contact-with-key", "contact-without-key", "seen"])
def test_known_names_send_without_a_word(gregor: Any, tex: Any, how: str) -> None:
    to = {"self": "@gregor", "own-agent": "@claude"}.get(how, "@tex")
    if how == "contact-with-key":
        gregor.pin(tex)
    elif how == "contact-without-key":
        (gregor.root / gregor.space_name / "contacts.yaml").write_text(
            "actors:\n  - id: tex\n    name: Tex\n", encoding="utf-8"
        )
    elif how == "seen":
        assert tex.cli("send", "@gregor", "hi").code == 0
        exported = tex.cli("export", "-")
        assert gregor.cli("import", "-", stdin=exported.out.encode("utf-8")).code == 0
    result = gregor.cli("send", to, "hello", "--strict")
    assert (result.code, result.err) == (0, ""), result


def _on_a_terminal(inst: Any, answer: bytes | None, *args: str) -> tuple[int, str]:
    """Run ``send`` as its own process with standard input and error on a pseudo-terminal, answer
    the prompt (None: Ctrl-C instead), and return the exit status and what the terminal showed."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "datacore_msg", "send", *args],
        stdin=slave,
        stderr=slave,
        stdout=subprocess.PIPE,
        env=inst.env(),
    )
    os.close(slave)
    shown = b""
    deadline = time.monotonic() + 60
    while b"Send anyway?" not in shown and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            shown += os.read(master, 4096)
    if answer is None:
        while proc.poll() is None:  # one that comes before the read starts is seen when it returns
            proc.send_signal(signal.SIGINT)
            time.sleep(0.2)
    else:
        os.write(master, answer)
    out, _ = proc.communicate(timeout=60)
    while select.select([master], [], [], 0.2)[0]:
        try:
            shown += os.read(master, 4096)
        except OSError:  # the terminal's other end closed: all read
            break
    os.close(master)
    return proc.returncode, shown.decode("utf-8", "replace") + out.decode("utf-8", "replace")


def test_on_a_terminal_an_unknown_name_asks_first(gregor: Any) -> None:
    before = count(gregor)
    code, shown = _on_a_terminal(gregor, b"n\n", "@bbo", "typo")
    assert "@bbo is not in contacts.yaml and was never seen in the log (a typo?). Send anyway?" in shown
    assert code == Exit.USAGE and count(gregor) == before  # declined: nothing sent
    code, shown = _on_a_terminal(gregor, b"y\n", "@bbo", "typo")
    assert code == 0 and "Sent: msg-" in shown and "warning" not in shown
    assert count(gregor) == before + 1


def test_on_a_terminal_end_of_input_or_ctrl_c_at_the_question_sends_nothing_and_shows_no_traceback(
    gregor: Any,
) -> None:
    before = count(gregor)
    code, shown = _on_a_terminal(gregor, b"\x04", "@bbo", "typo")  # Ctrl-D: as no
    assert code == Exit.USAGE and "datacore-msg: error: aborted" in shown and "Traceback" not in shown
    code, shown = _on_a_terminal(gregor, None, "@bbo", "typo")
    assert code == 130 and "error: interrupted" in shown and "Traceback" not in shown
    assert count(gregor) == before
