"""Attack: an imported event drives the owner's terminal.

mallory signs events with a throwaway key: an event of a type this version does not know, whose
type and subject hold ``ESC[2J`` (clear the screen), an OSC 52 sequence (write the clipboard), CR and
a bidi override; a message and a task request whose texts, and a cancellation whose reason, hold the
same. gregor imports the file and runs ``log``, ``inbox``, ``show``, ``thread``, ``tasks``, ``task
show`` and ``verify`` as separate processes, as a user does at a terminal. No raw control character
(C0 but TAB and LF, DEL, C1), bidi control or line separator may reach standard output or standard
error; the hostile text is still shown, escaped visibly.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from datacore_msg.app.ids import new_message_id, new_task_id
from datacore_msg.eventlog import codec
from datacore_msg.eventlog.canonical import canonical_text
from datacore_msg.eventlog.envelope import Event, seal
from datacore_msg.eventlog.payloads import MessageSent, Payload, TaskCancelled, TaskRequested
from datacore_msg.eventlog.signing import SigningKey

CLEAR = "\x1b[2J\x1b[H"
CLIPBOARD = "\x1b]52;c;cm0gLXJmIH4vKgo=\x07"  # OSC 52: put "rm -rf ~/*" on the clipboard
C1_CSI = "\x9b31m"  # the one-byte CSI of C1
BIDI = "\u202efdp.exe\u202c\u2066x\u2069\u200f"
HOSTILE = f"{CLEAR}{CLIPBOARD}visible\rover{C1_CSI}{BIDI}\x7f\u2028end\x00"

#: Raw characters that must never reach a terminal (TAB and LF are fine).
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


class Attacker:
    """A throwaway key that seals a chain of events under any actor name and type."""

    def __init__(self) -> None:
        self.key = SigningKey.generate()
        self.events: list[Event] = []

    def seal(self, type_name: str, version: int, data: dict[str, Any], actor: str = "mallory") -> Event:
        prev = self.events[-1] if self.events else None
        wall = time.time_ns() // 1_000_000
        hlc = max(wall << 16, (prev.hlc + 1) if prev else 0)
        event = seal(
            self.key,
            seq=len(self.events) + 1,
            prev=prev.id if prev else None,
            hlc=hlc,
            actor=actor,
            type_name=type_name,
            version=version,
            data=data,
        )
        self.events.append(event)
        return event

    def payload(self, payload: Payload, actor: str = "mallory") -> Event:
        return self.seal(payload.TYPE, payload.VERSION, codec.encode_payload(payload), actor)

    def write(self, path: Path) -> Path:
        path.write_text("".join(canonical_text(e.to_json()) + "\n" for e in self.events), encoding="utf-8")
        return path


def assert_clean(result: Any, what: str) -> None:
    for stream in ("out", "err"):
        text: str = getattr(result, stream)
        found = RAW.search(text)
        assert found is None, f"{what}: raw {found.group()!r} on std{stream}: {text[:400]!r}"


def test_hostile_event_fields_never_reach_the_terminal_raw(
    make_installation: Callable[..., Any], tmp_path: Path
) -> None:
    gregor = make_installation("gregor")
    odd = Attacker()
    odd.seal(f"x.{CLEAR}{CLIPBOARD}", 1, {"subject": "s"})
    refused = gregor.run("import", str(odd.write(tmp_path / "odd-type.jsonl")))
    assert refused.code == 11, refused
    assert "is not an event type" in refused.err and "x.\\x1b[2J" in refused.err
    assert_clean(refused, "import of an odd type name")

    mallory = Attacker()
    now = time.time_ns() // 1_000_000
    odd_type = "x.note"
    mallory.seal(odd_type, 1, {"subject": f"s-{HOSTILE}\n2026-01-01 forged line"})
    message_id = new_message_id(now)
    mallory.payload(MessageSent(id=message_id, sender="mallory", to="gregor", text=f"hi {HOSTILE}\nline 2"))
    task_id = new_task_id(now)
    mallory.payload(
        TaskRequested(id=task_id, sender="mallory", to="gregor-claude", text=f"{HOSTILE} do it\nnow {CLEAR}")
    )
    mallory.payload(TaskCancelled(task=task_id, reason=f"because {HOSTILE}"))
    path = mallory.write(tmp_path / "from-mallory.jsonl")

    imported = gregor.run("import", str(path))
    assert imported.code == 0, imported
    assert_clean(imported, "import")

    log = gregor.run("log")
    assert log.code == 0, log
    assert_clean(log, "log")
    assert "\\u001b]52;c;" in log.out
    assert "forged line" in log.out
    assert not any(line.startswith("2026-01-01 forged") for line in log.out.splitlines())

    for args in (
        ("inbox",),
        ("inbox", "--all"),
        ("show", message_id),
        ("thread", message_id),
        ("tasks", "--all"),
        ("task", "show", task_id),
        ("verify",),
    ):
        result = gregor.run(*args)
        assert result.code == 0, (args, result)
        assert_clean(result, " ".join(args))
    shown = gregor.run("task", "show", task_id).out
    assert "because \\u001b[2J" in shown and "\\u202efdp.exe" in shown
    assert "\\u001b]52;c;" in gregor.run("show", message_id).out

    # JSON keeps the exact text, and no raw control character either.
    as_json = gregor.run("log", "--json")
    assert_clean(as_json, "log --json")
    types = [e["type"] for e in json.loads(as_json.out)["data"]]
    assert odd_type in types
    task_json = gregor.run("task", "show", task_id, "--json")
    assert_clean(task_json, "task show --json")
    assert json.loads(task_json.out)["data"]["text"].startswith(HOSTILE)


def test_hostile_text_in_errors_never_reaches_the_terminal_raw(
    make_installation: Callable[..., Any], tmp_path: Path
) -> None:
    """A rejected line's reason quotes the attacker's field names; the error line escapes them."""
    gregor = make_installation("gregor")
    mallory = Attacker()
    good = mallory.seal("x.note", 1, {"subject": "s"})
    line = json.loads(canonical_text(good.to_json()))
    line[f"evil{CLEAR}{CLIPBOARD}{BIDI}"] = 1
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    result = gregor.run("import", str(path))
    assert result.code == 11, result
    assert "unknown field" in result.err
    assert_clean(result, "import")
    assert_clean(gregor.run("import", str(path), "--json"), "import --json")


def test_an_export_of_hostile_events_never_drives_the_terminal_and_imports_unchanged(
    make_installation: Callable[..., Any], tmp_path: Path
) -> None:
    """``export -`` at a terminal (or ``cat`` of an export file) printed the C1 CSI, bidi overrides
    and line separators of an imported text raw: canonical JSON escapes only C0. The export now
    writes them as ``\\uXXXX`` (the same JSON value), and the file imports elsewhere unchanged."""
    gregor = make_installation("gregor")
    tex = make_installation("tex")
    mallory = Attacker()
    message_id = new_message_id(time.time_ns() // 1_000_000)
    mallory.payload(MessageSent(id=message_id, sender="mallory", to="gregor", text=f"hi {HOSTILE}"))
    assert gregor.run("import", str(mallory.write(tmp_path / "m.jsonl"))).code == 0

    exported = gregor.run("export", "-")
    assert exported.code == 0, exported
    assert_clean(exported, "export -")
    assert gregor.run("export", str(tmp_path / "all.jsonl")).code == 0
    assert RAW.search((tmp_path / "all.jsonl").read_text(encoding="utf-8")) is None

    imported = tex.run("import", "-", stdin=exported.out.encode("utf-8"))
    assert imported.code == 0, imported
    shown = json.loads(tex.run("log", "--json").out)["data"]
    assert [e["data"]["text"] for e in shown if e["type"] == "message.sent"] == [f"hi {HOSTILE}"]


def test_exactly_the_documented_characters_are_escaped_over_every_code_point() -> None:
    from datacore_msg.projections import orgtext
    from datacore_msg.terminal import field, printable

    unsafe = {*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0), 0x061C, 0x200E, 0x200F}
    unsafe |= {0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A), *range(0xD800, 0xE000)}
    for code in range(0x110000):
        char = chr(code)
        assert (printable(char) != char) == (code in unsafe), hex(code)
        assert (field(char) != char) == (code in unsafe or code in (0x09, 0x0A)), hex(code)
        special = char in orgtext.SPECIAL
        assert bool(orgtext._SPECIAL_RE.fullmatch(char)) == special, hex(code)
        assert bool(orgtext._ESC_RE.fullmatch(char)) == (special or char in ("\\", orgtext.BREAK_MARK)), hex(
            code
        )


def _by_pattern(kind: str, text: str) -> str:
    """The escaping as a plain regular-expression substitution, over every character."""
    from datacore_msg import terminal

    return re.sub(terminal._PATTERNS[kind], lambda m: f"\\u{ord(m.group()):04x}", text)


_AWKWARD = "a \t\n\r\x1b\x7f\x85\u061c\u200e\u2028\u2029\u202e\u2066\u00a0\u3000\ud800\udfff\U0001f600é"


@settings(max_examples=500)
@given(st.text(alphabet=_AWKWARD, max_size=12) | st.text(max_size=40))
def test_printable_shortcut_escapes_exactly_what_the_patterns_match(text: str) -> None:
    from datacore_msg import terminal

    assert terminal.printable(text) == _by_pattern("printable", text)
    assert terminal.json_text(text) == _by_pattern("printable", text)
    assert terminal.field(text) == _by_pattern("field", text)


def test_every_escaped_character_is_one_isprintable_refuses() -> None:
    from datacore_msg import terminal

    pattern = re.compile(terminal._PATTERNS["field"])
    escaped = [chr(c) for c in range(0x110000) if pattern.fullmatch(chr(c))]
    assert len(escaped) > 2048 and not any(c.isprintable() for c in escaped)
