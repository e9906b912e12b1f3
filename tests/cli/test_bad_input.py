"""Bad input gets one line naming what was wrong and where, a typed exit status, and stores nothing.

The main table runs each bad command in-process through ``main`` (the real error boundary) against
an installation of gregor that has sent two messages to tex. Every row checks:

* the exit status is the typed one (``datacore_msg.cli.exit_codes.Exit``);
* standard error is exactly one line, ``datacore-msg: error: ...``, holding the row's substrings,
  and no traceback; standard output is empty;
* the event log holds as many events as before.

Import files (forged, truncated, re-ordered) have their own tests: valid lines are kept there, and
every rejected line is reported by number.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from datacore_msg.cli.exit_codes import Exit, name_of
from datacore_msg.cli.main import main
from datacore_msg.eventlog.names import MAX_TEXT_BYTES

ERROR_PREFIX = "datacore-msg: error: "


@pytest.fixture(autouse=True)
def _no_state_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """$DATACORE_MSG_STATE would send every test installation to one state folder."""
    monkeypatch.delenv("DATACORE_MSG_STATE", raising=False)


# -- helpers -------------------------------------------------------------------------------------


def count(inst: Any) -> int:
    with inst.space() as sp:
        return int(sp.store.count())


def event_ids(inst: Any) -> set[str]:
    with inst.space() as sp:
        return {event.id for event in sp.store.iter_since(0)}


def settings_file(inst: Any) -> Path:
    return Path(inst.root) / ".datacore" / "settings.local.yaml"


def key_file(inst: Any) -> Path:
    return Path(inst.state) / "signing.key"


def assert_one_line_error(result: Any, code: int, *needles: str) -> None:
    assert result.code == code, (
        f"exit {result.code} ({_name(result.code)}), wanted {code} ({name_of(code)}); stderr: {result.err!r}"
    )
    assert "Traceback" not in result.err, result.err
    assert result.err.startswith(ERROR_PREFIX), result.err
    assert result.err.endswith("\n") and result.err.count("\n") == 1, (
        f"stderr is not one line: {result.err!r}"
    )
    for needle in needles:
        assert needle in result.err, f"{needle!r} not in {result.err!r}"
    assert result.out == "", f"stdout should be empty on error: {result.out!r}"


def _name(code: int) -> str:
    return name_of(code) or "?"


@attrs.frozen
class World:
    """gregor's installation, after sending two messages to tex."""

    inst: Any
    first: str
    second: str

    def fill(self, value: str) -> str:
        for name, replacement in (
            ("{first}", self.first),
            ("{second}", self.second),
            ("{root}", str(self.inst.root)),
            ("{key}", str(key_file(self.inst))),
        ):
            value = value.replace(name, replacement)
        return value


@pytest.fixture
def world(gregor: Any) -> World:
    first = gregor.cli("send", "@tex", "first", "--json")
    second = gregor.cli("send", "@tex", "second", "--json")
    assert first.code == 0 and second.code == 0, (first, second)
    return World(gregor, json.loads(first.out)["data"]["id"], json.loads(second.out)["data"]["id"])


# -- what a row may do to the installation before running ----------------------------------------

Undo = Callable[[], None]


def replace_settings(text: str) -> Callable[[Any], Undo]:
    """Swap the settings for ``text`` (state_dir kept, so the log is found) until undone."""

    def apply(inst: Any) -> Undo:
        path = settings_file(inst)
        saved = path.read_bytes()
        state_line = f"messaging:\n  state_dir: {inst.state}\n"
        path.write_text(text.replace("$STATE$", state_line), encoding="utf-8")
        return lambda: path.write_bytes(saved)

    return apply


def replace_key(action: str) -> Callable[[Any], Undo]:
    def apply(inst: Any) -> Undo:
        path = key_file(inst)
        saved = path.read_bytes()
        path.unlink()
        if action == "directory":
            path.mkdir()
        elif action == "not-ascii":
            path.write_bytes(b"\xff\xfe garbage \x00")
        elif action == "bad-header":
            path.write_text("ssh-ed25519 AAAA not ours\n", encoding="ascii")
        elif action == "short":
            path.write_text("datacore-msg ed25519 private key v1\nabcdef\n", encoding="ascii")

        def undo() -> None:
            if path.is_dir():
                path.rmdir()
            path.unlink(missing_ok=True)
            path.write_bytes(saved)

        return undo

    return apply


@attrs.frozen
class Row:
    id: str
    args: tuple[str, ...]
    code: int
    needles: tuple[str, ...]
    stdin: bytes = b""
    #: Runs before the events are counted (may append events).
    setup: tuple[tuple[str, ...], ...] = ()
    #: Breaks something after counting; returns how to undo it before counting again.
    breaks: Callable[[Any], Undo] | None = None


TOO_LONG = "x" * (MAX_TEXT_BYTES + 1)  # 65,537 bytes

ROWS = [
    # settings
    Row(
        "settings-malformed-yaml",
        ("inbox",),
        Exit.CONFIG,
        ("settings.local.yaml:3:16:", "malformed YAML"),
        breaks=replace_settings("identity:\n  name: gregor\n  timezone: UTC: x\n$STATE$"),
    ),
    Row(
        "settings-identity-name-invalid",
        ("send", "@tex", "hello"),
        Exit.CONFIG,
        ("settings.local.yaml", "identity.name 'bad name' is not a valid name"),
        breaks=replace_settings("identity:\n  name: bad name\n$STATE$"),
    ),
    Row(
        "settings-identity-name-not-a-string",
        ("inbox",),
        Exit.CONFIG,
        ("settings.local.yaml", "identity.name"),
        breaks=replace_settings("identity:\n  name: [gregor]\n$STATE$"),
    ),
    Row(
        "settings-unknown-time-zone",
        ("inbox",),
        Exit.CONFIG,
        ("settings.local.yaml", "identity.timezone", "unknown time zone 'Mars/Olympus'"),
        breaks=replace_settings("identity:\n  name: gregor\n  timezone: Mars/Olympus\n$STATE$"),
    ),
    Row(
        "settings-top-level-not-a-mapping",
        ("inbox",),
        Exit.CONFIG,
        ("settings.local.yaml", "top level must be a mapping"),
        breaks=replace_settings("- just\n- a list\n"),
    ),
    Row(
        "settings-not-utf8",
        ("inbox",),
        Exit.CONFIG,
        ("settings.local.yaml", "not valid UTF-8"),
        breaks=lambda inst: _write_bytes_until_undone(settings_file(inst), b"name: \xff\n"),
    ),
    # options given by the user
    Row(
        "init-unknown-time-zone",
        ("init", "--name", "gregor", "--timezone", "Mars/Olympus"),
        Exit.INVALID_INPUT,
        ("--timezone", "unknown time zone 'Mars/Olympus'"),
    ),
    Row(
        "init-invalid-name",
        ("init", "--name", "bad name"),
        Exit.INVALID_INPUT,
        ("--name 'bad name' is not a valid name",),
    ),
    Row(
        "space-not-a-folder-name",
        ("inbox", "--space", "../elsewhere"),
        Exit.INVALID_INPUT,
        ("--space", "'../elsewhere'"),
    ),
    # ids
    Row("show-unknown-id", ("show", "msg-nope"), Exit.NOT_FOUND, ("'msg-nope'",)),
    Row("mark-unknown-id", ("mark", "msg-nope", "read"), Exit.NOT_FOUND, ("'msg-nope'",)),
    Row("reply-unknown-id", ("reply", "msg-nope", "hi"), Exit.NOT_FOUND, ("'msg-nope'",)),
    Row("thread-unknown-id", ("thread", "msg-nope"), Exit.NOT_FOUND, ("'msg-nope'",)),
    Row(
        "send-reply-to-unknown-id",
        ("send", "@tex", "hi", "--reply-to", "msg-nope"),
        Exit.NOT_FOUND,
        ("'msg-nope'",),
    ),
    Row("show-empty-id", ("show", ""), Exit.INVALID_INPUT, ("message id is empty",)),
    # a prefix longer than SQLite's LIKE limit (50,000 bytes) was a STORAGE error naming the database
    Row("show-huge-id", ("show", "m" * 60_000), Exit.INVALID_INPUT, ("message id is 60000 characters",)),
    Row(
        "task-show-huge-id",
        ("task", "show", "t" * 60_000),
        Exit.INVALID_INPUT,
        ("task id is 60000 characters",),
    ),
    Row(
        "show-ambiguous-prefix",
        ("show", "msg-2"),
        Exit.AMBIGUOUS,
        ("'msg-2' matches 2 messages", "{first}", "{second}"),
    ),
    Row(
        "mark-ambiguous-prefix",
        ("mark", "msg-", "read"),
        Exit.AMBIGUOUS,
        ("matches 2 messages", "{first}", "{second}"),
    ),
    Row(
        "reply-ambiguous-prefix",
        ("reply", "msg-", "hi"),
        Exit.AMBIGUOUS,
        ("matches 2 messages", "{first}", "{second}"),
    ),
    Row(
        "thread-ambiguous-prefix",
        ("thread", "msg-"),
        Exit.AMBIGUOUS,
        ("matches 2 messages", "{first}", "{second}"),
    ),
    # text
    Row("send-empty-text", ("send", "@tex", ""), Exit.INVALID_INPUT, ("text is empty",)),
    Row(
        "send-whitespace-only-text",
        ("send", "@tex", " \n\t \r\n "),
        Exit.INVALID_INPUT,
        ("text is empty",),
    ),
    Row(
        "send-empty-stdin",
        ("send", "@tex", "-"),
        Exit.INVALID_INPUT,
        ("text is empty",),
        stdin=b"",
    ),
    Row("reply-empty-text", ("reply", "{first}", "  "), Exit.INVALID_INPUT, ("text is empty",)),
    Row(
        "send-text-over-64k-argv",
        ("send", "@tex", TOO_LONG),
        Exit.INVALID_INPUT,
        ("65537 bytes", "65536"),
    ),
    Row(
        "send-text-over-64k-stdin",
        ("send", "@tex", "-"),
        Exit.INVALID_INPUT,
        ("standard input is over the limit of 65536 bytes",),  # read no further than the limit
        stdin=TOO_LONG.encode(),
    ),
    Row(
        "send-multibyte-text-over-64k",
        ("send", "@tex", "é" * (MAX_TEXT_BYTES // 2) + "x"),
        Exit.INVALID_INPUT,
        ("65537 bytes",),
    ),
    Row(
        "reply-text-over-64k-stdin",
        ("reply", "{first}", "-"),
        Exit.INVALID_INPUT,
        ("standard input is over the limit of 65536 bytes",),
        stdin=TOO_LONG.encode(),
    ),
    Row(
        "send-stdin-not-utf8",
        ("send", "@tex", "-"),
        Exit.INVALID_INPUT,
        ("standard input is not valid UTF-8", "byte 6"),
        stdin=b"hello \xff\xfe",
    ),
    Row(
        "send-text-with-lone-surrogate",
        ("send", "@tex", "bad \udcff"),
        Exit.INVALID_INPUT,
        ("is not valid UTF-8",),
    ),
    # recipients
    Row(
        "recipient-with-space",
        ("send", "@bad name", "hi"),
        Exit.INVALID_INPUT,
        ("recipient 'bad name' is not a valid name",),
    ),
    Row("recipient-empty", ("send", "@", "hi"), Exit.INVALID_INPUT, ("recipient '' is not a valid name",)),
    Row(
        "recipient-leading-dash",
        ("send", "@-x", "hi"),
        Exit.INVALID_INPUT,
        ("recipient '-x' is not a valid name",),
    ),
    Row("recipient-too-long", ("send", "@" + "a" * 65, "hi"), Exit.INVALID_INPUT, ("is not a valid name",)),
    Row(
        "recipient-newline",
        ("send", "@tex\n* TODO x", "hi"),
        Exit.INVALID_INPUT,
        ("recipient", "is not a valid name"),
    ),
    # the signing key
    Row(
        "key-missing",
        ("send", "@tex", "hello"),
        Exit.KEY,
        ("{key}", "no signing key", "init"),
        breaks=replace_key("missing"),
    ),
    Row(
        "key-missing-on-mark",
        ("mark", "{first}", "done"),
        Exit.KEY,
        ("{key}", "no signing key"),
        breaks=replace_key("missing"),
    ),
    Row(
        "key-is-a-directory",
        ("send", "@tex", "hello"),
        Exit.KEY,
        ("{key}", "cannot read the signing key"),
        breaks=replace_key("directory"),
    ),
    Row(
        "key-not-ascii",
        ("send", "@tex", "hello"),
        Exit.KEY,
        ("{key}", "cannot read the signing key"),
        breaks=replace_key("not-ascii"),
    ),
    Row(
        "key-bad-header",
        ("reply", "{first}", "hello"),
        Exit.KEY,
        ("{key}", "bad header"),
        breaks=replace_key("bad-header"),
    ),
    Row(
        "key-malformed",
        ("send", "@tex", "hello"),
        Exit.KEY,
        ("{key}", "malformed"),
        breaks=replace_key("short"),
    ),
    # files
    Row(
        "import-file-missing",
        ("import", "{root}/no-such-file.jsonl"),
        Exit.INVALID_INPUT,
        ("no-such-file.jsonl", "cannot read"),
    ),
    Row(
        "import-file-is-a-directory",
        ("import", "{root}"),
        Exit.INVALID_INPUT,
        ("cannot read",),
    ),
    Row(
        "export-to-missing-folder",
        ("export", "{root}/no/such/folder/out.jsonl"),
        Exit.INVALID_INPUT,
        ("out.jsonl", "cannot write"),
    ),
    # the log's filters
    Row("log-since-garbage", ("log", "--since", "garbage"), Exit.INVALID_INPUT, ("--since 'garbage'", "30m")),
    Row("log-since-unknown-unit", ("log", "--since", "3y"), Exit.INVALID_INPUT, ("--since '3y'",)),
    Row("log-limit-zero", ("log", "--limit", "0"), Exit.INVALID_INPUT, ("--limit",)),
    Row("log-limit-negative", ("log", "--limit", "-3"), Exit.INVALID_INPUT, ("--limit",)),
    # transitions
    Row(
        "mark-archived-message",
        ("mark", "{first}", "read"),
        Exit.TRANSITION,
        ("{first}", "archived"),
        setup=(("mark", "{first}", "archive"),),
    ),
]


def _write_bytes_until_undone(path: Path, data: bytes) -> Undo:
    saved = path.read_bytes()
    path.write_bytes(data)
    return lambda: path.write_bytes(saved)


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_bad_input_is_one_typed_line_and_stores_nothing(world: World, row: Row) -> None:
    inst = world.inst
    for step in row.setup:
        done = inst.cli(*(world.fill(a) for a in step))
        assert done.code == 0, done
    before = count(inst)
    settings_before = settings_file(inst).read_bytes()
    undo = row.breaks(inst) if row.breaks else None
    try:
        result = inst.cli(*(world.fill(a) for a in row.args), stdin=row.stdin)
    finally:
        if undo is not None:
            undo()
    needles = [world.fill(n) for n in row.needles]
    assert_one_line_error(result, row.code, *needles)
    assert count(inst) == before, "a rejected command stored an event"
    assert settings_file(inst).read_bytes() == settings_before, "the settings changed"


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_bad_input_with_json_is_a_json_error(world: World, row: Row) -> None:
    """The same rows with --json: one JSON error object on stdout, nothing on stderr."""
    inst = world.inst
    if row.args[0] in ("init", "export"):
        pytest.skip(f"{row.args[0]} has no --json")
    for step in row.setup:
        assert inst.cli(*(world.fill(a) for a in step)).code == 0
    undo = row.breaks(inst) if row.breaks else None
    try:
        result = inst.cli(*(world.fill(a) for a in row.args), "--json", stdin=row.stdin)
    finally:
        if undo is not None:
            undo()
    assert result.code == row.code, result
    assert result.err == ""
    envelope = json.loads(result.out)
    assert envelope["version"] == 1
    assert envelope["ok"] is False
    assert set(envelope) == {"version", "ok", "error"}
    assert envelope["error"]["code"] in {
        "invalid_input",
        "not_found",
        "ambiguous",
        "transition",
        "config",
        "key",
    }
    assert envelope["error"]["message"]


def test_a_key_that_cannot_be_read_is_a_key_error(world: World) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    inst = world.inst
    key = key_file(inst)
    before = count(inst)
    key.chmod(0)
    try:
        result = inst.cli("send", "@tex", "hello")
    finally:
        key.chmod(0o600)
    assert_one_line_error(result, Exit.KEY, str(key), "cannot read the signing key")
    assert count(inst) == before


# -- click usage errors --------------------------------------------------------------------------

USAGE_ROWS = [
    (("send", "@tex", "hi", "--priority", "Z"), "--priority"),
    (("reply", "{first}", "hi", "--priority", "a"), "--priority"),
    (("mark", "{first}", "sideways"), "sideways"),
    (("log", "--limit", "many"), "--limit"),
    (("send", "@tex"), "TEXT"),
    (("inbox", "--no-such-option"), "--no-such-option"),
    (("no-such-command",), "no-such-command"),
]


@pytest.mark.parametrize(("args", "needle"), USAGE_ROWS, ids=[r[0][0] + r[1] for r in USAGE_ROWS])
def test_usage_errors_exit_2_with_clicks_message(world: World, args: tuple[str, ...], needle: str) -> None:
    inst = world.inst
    before = count(inst)
    result = inst.cli(*(world.fill(a) for a in args))
    assert result.code == Exit.USAGE, result
    assert "Traceback" not in result.err
    assert "Error:" in result.err and needle in result.err, result.err
    assert result.out == ""
    assert count(inst) == before


def test_a_usage_error_with_json_is_a_json_error(world: World) -> None:
    """A script that asked for --json gets JSON on stdout whatever went wrong (exit 2)."""
    result = world.inst.cli("send", "@tex", "hi", "--priority", "Z", "--json")
    assert result.code == Exit.USAGE
    envelope = json.loads(result.out)
    assert envelope["ok"] is False and envelope["version"] == 1
    assert "--priority" in envelope["error"]["message"]


# -- arguments that are not UTF-8 -----------------------------------------------------------------
#
# Python turns undecodable argv bytes into lone surrogates ("\udcff"). Wherever such a string ends
# up -- text, a name, an id prefix, a filter -- the result is a typed error line (or, for a filter,
# simply no match), never a traceback.

NOT_UTF8 = "\udcff"
#: (arguments, exit statuses that are fine)
NOT_UTF8_ROWS = [
    (("send", "@tex", f"bad {NOT_UTF8}"), {Exit.INVALID_INPUT}),
    (("send", f"@{NOT_UTF8}", "hi"), {Exit.INVALID_INPUT}),
    (("send", "@tex", "hi", "--reply-to", NOT_UTF8), {Exit.INVALID_INPUT, Exit.NOT_FOUND}),
    (("show", f"msg-{NOT_UTF8}"), {Exit.INVALID_INPUT, Exit.NOT_FOUND}),
    (("thread", NOT_UTF8), {Exit.INVALID_INPUT, Exit.NOT_FOUND}),
    (("mark", NOT_UTF8, "read"), {Exit.INVALID_INPUT, Exit.NOT_FOUND}),
    (("reply", NOT_UTF8, "hi"), {Exit.INVALID_INPUT, Exit.NOT_FOUND}),
    (("log", "--actor", NOT_UTF8), {Exit.INVALID_INPUT, Exit.OK}),
    (("log", "--type", NOT_UTF8), {Exit.INVALID_INPUT, Exit.OK}),
    (("log", "--since", NOT_UTF8), {Exit.INVALID_INPUT}),
    (("import", f"/tmp/{NOT_UTF8}.jsonl"), {Exit.INVALID_INPUT}),
]


def _assert_handled(code: int, out: str, err: str, allowed: set[int]) -> None:
    assert code in allowed, f"exit {code} ({_name(code)}), wanted one of {sorted(allowed)}: {err}"
    assert "Traceback" not in err, err
    if code != Exit.OK:
        assert err.startswith(ERROR_PREFIX) and err.count("\n") == 1, err
        assert out == ""


@pytest.mark.parametrize(
    ("args", "allowed"), NOT_UTF8_ROWS, ids=[" ".join(a).replace(NOT_UTF8, "<ff>") for a, _ in NOT_UTF8_ROWS]
)
def test_arguments_that_are_not_utf8_are_typed_errors(
    world: World, args: tuple[str, ...], allowed: set[int]
) -> None:
    inst = world.inst
    before = count(inst)
    result = inst.cli(*args)
    _assert_handled(result.code, result.out, result.err, allowed)
    assert count(inst) == before


ARGV_BYTES = [
    ([b"send", b"@tex", b"\xff\xfe"], {Exit.INVALID_INPUT}, "is not valid UTF-8"),
    ([b"send", b"@\xff", b"hi"], {Exit.INVALID_INPUT}, "is not valid UTF-8"),
    # the argument is shown on the one line of the error: TAB and LF written as escapes
    (
        [b"send", b"@tex", b"a\tb\nc\xff"],
        {Exit.INVALID_INPUT},
        "(a\\u0009b\\u000ac?) is not valid UTF-8",
    ),
    ([b"show", b"msg-\xff"], {Exit.INVALID_INPUT, Exit.NOT_FOUND}, "msg-"),
    ([b"log", b"--actor", b"\xff"], {Exit.INVALID_INPUT, Exit.OK}, ""),
]


@pytest.mark.parametrize(
    ("argv", "allowed", "needle"),
    ARGV_BYTES,
    ids=[b" ".join(a[0]).decode("latin-1") for a in ARGV_BYTES],
)
def test_invalid_utf8_in_the_real_argv(
    world: World, argv: list[bytes], allowed: set[int], needle: str
) -> None:
    """Bytes that are not UTF-8 in a real process's argv (not simulated in-process)."""
    inst = world.inst
    before = count(inst)
    proc = subprocess.run(
        [sys.executable.encode(), b"-m", b"datacore_msg", *argv],
        capture_output=True,
        env=inst.env(),
        timeout=60,
        check=False,
    )
    err = proc.stderr.decode("utf-8", "replace")
    _assert_handled(proc.returncode, proc.stdout.decode("utf-8", "replace"), err, allowed)
    assert needle in err
    assert count(inst) == before


# -- import files --------------------------------------------------------------------------------


@pytest.fixture
def exported(gregor: Any, tex: Any, tmp_path: Path) -> tuple[Any, Any, list[bytes]]:
    """gregor's log of three messages to tex, exported as JSON lines."""
    for text in ("one", "two", "three"):
        assert gregor.cli("send", "@tex", text).code == 0
    out = tmp_path / "gregor.jsonl"
    assert gregor.cli("export", str(out)).code == 0
    lines = out.read_bytes().splitlines(keepends=True)
    assert len(lines) == 3
    return gregor, tex, lines


def _ids(lines: list[bytes]) -> list[str]:
    return [json.loads(line)["id"] for line in lines]


def _import(tex: Any, path: Path, data: bytes) -> Any:
    path.write_bytes(data)
    return tex.cli("import", str(path))


def _assert_rejected(result: Any, path: Path, lines: list[int], accepted: int) -> None:
    assert_one_line_error(result, Exit.IMPORT_REJECTED, str(path))
    for number in lines:
        assert f"line {number}: " in result.err, result.err
    assert f"Imported {accepted} new event(s)" in result.err
    assert f"{len(lines)} rejected" in result.err


def test_import_of_a_forged_event_rejects_it_and_keeps_the_valid_lines(
    exported: tuple[Any, Any, list[bytes]], tmp_path: Path
) -> None:
    _, tex, lines = exported
    forged = json.loads(lines[1])
    forged["data"]["text"] = "two (edited)"
    bad = [lines[0], json.dumps(forged).encode() + b"\n", lines[2]]
    path = tmp_path / "forged.jsonl"
    before = event_ids(tex)
    result = _import(tex, path, b"".join(bad))
    _assert_rejected(result, path, [2, 3], accepted=1)
    assert "id does not match its content" in result.err
    ids = _ids(lines)
    assert event_ids(tex) == before | {ids[0]}
    assert forged["id"] not in event_ids(tex)


def test_import_of_a_re_signed_forgery_is_rejected(
    exported: tuple[Any, Any, list[bytes]], tmp_path: Path
) -> None:
    """A forger who recomputes the id still cannot sign as gregor's origin."""
    import hashlib

    from datacore_msg.eventlog.canonical import canonical_bytes
    from datacore_msg.eventlog.envelope import from_json

    _, tex, lines = exported
    obj = json.loads(lines[0])
    obj["data"]["text"] = "one (edited)"
    obj["id"] = hashlib.sha256(canonical_bytes(from_json(obj).body())).hexdigest()
    path = tmp_path / "resigned.jsonl"
    before = count(tex)
    result = _import(tex, path, json.dumps(obj).encode() + b"\n")
    _assert_rejected(result, path, [1], accepted=0)
    assert "bad signature" in result.err
    assert count(tex) == before


def test_import_of_a_truncated_file_rejects_the_cut_line(
    exported: tuple[Any, Any, list[bytes]], tmp_path: Path
) -> None:
    _, tex, lines = exported
    cut = lines[2][: len(lines[2]) // 2]
    path = tmp_path / "truncated.jsonl"
    before = event_ids(tex)
    result = _import(tex, path, lines[0] + lines[1] + cut)
    _assert_rejected(result, path, [3], accepted=2)
    assert "truncated" in result.err
    ids = _ids(lines)
    assert event_ids(tex) == before | {ids[0], ids[1]}


def test_import_of_a_reordered_file_rejects_the_out_of_order_lines(
    exported: tuple[Any, Any, list[bytes]], tmp_path: Path
) -> None:
    _, tex, lines = exported
    path = tmp_path / "reversed.jsonl"
    before = event_ids(tex)
    result = _import(tex, path, b"".join(reversed(lines)))
    _assert_rejected(result, path, [1, 2], accepted=1)
    assert "predecessor" in result.err
    ids = _ids(lines)
    assert event_ids(tex) == before | {ids[0]}  # seq 1, the last line, has no predecessor


def test_import_of_garbage_lines_reports_each_by_number(
    exported: tuple[Any, Any, list[bytes]], tmp_path: Path
) -> None:
    _, tex, lines = exported
    data = lines[0] + b"not json\n" + lines[1] + b"{}\n\n" + b"\xff\xfe\n" + lines[2]
    path = tmp_path / "garbage.jsonl"
    before = count(tex)
    result = _import(tex, path, data)
    _assert_rejected(result, path, [2, 4, 6], accepted=3)
    assert "line 5" not in result.err  # blank lines are skipped, not rejected
    assert count(tex) == before + 3


def test_import_from_stdin_reports_lines_too(
    exported: tuple[Any, Any, list[bytes]],
) -> None:
    _, tex, lines = exported
    before = count(tex)
    result = tex.cli("import", "-", stdin=lines[0] + lines[2])
    assert_one_line_error(result, Exit.IMPORT_REJECTED, "-: ", "line 2: ", "predecessor")
    assert count(tex) == before + 1


def test_import_rejected_with_json_lists_each_line(
    exported: tuple[Any, Any, list[bytes]], tmp_path: Path
) -> None:
    _, tex, lines = exported
    path = tmp_path / "truncated.jsonl"
    path.write_bytes(lines[0] + lines[1][:20])
    result = tex.cli("import", str(path), "--json")
    assert result.code == Exit.IMPORT_REJECTED
    assert result.err == ""
    envelope = json.loads(result.out)
    assert envelope["version"] == 1 and envelope["ok"] is False
    error = envelope["error"]
    assert error["code"] == "import_rejected"
    assert [r["line"] for r in error["rejected"]] == [2]
    assert "truncated" in error["rejected"][0]["reason"]


def test_a_corrected_file_completes_a_rejected_import(
    exported: tuple[Any, Any, list[bytes]], tmp_path: Path
) -> None:
    _, tex, lines = exported
    path = tmp_path / "in.jsonl"
    assert _import(tex, path, lines[0] + lines[1][:10]).code == Exit.IMPORT_REJECTED
    result = _import(tex, path, b"".join(lines))
    assert result.code == 0, result
    assert "Imported 2 new event(s), 1 already present, 0 rejected" in result.out
    assert event_ids(tex) >= set(_ids(lines))


# -- installations that are not (or already) set up ----------------------------------------------


@attrs.frozen
class Ran:
    code: int
    out: str
    err: str


def run_main(argv: list[str], stdin: bytes = b"") -> Ran:
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr, sys.stdin
    sys.stdout, sys.stderr = out, err
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    try:
        code = main(argv)
    finally:
        sys.stdout, sys.stderr, sys.stdin = saved
    return Ran(code, out.getvalue(), err.getvalue())


@pytest.mark.parametrize("user", [None, "gregor"])
@pytest.mark.parametrize(
    "args", [("inbox",), ("send", "@tex", "hello"), ("log",), ("verify",), ("export", "-")]
)
def test_a_root_that_is_not_set_up_says_to_run_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, user: str | None, args: tuple[str, ...]
) -> None:
    state = tmp_path / "xdg-state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.delenv("DATACORE_MSG_STATE", raising=False)
    if user is None:
        monkeypatch.delenv("USER", raising=False)
    else:
        monkeypatch.setenv("USER", user)
    root = tmp_path / "empty-root"
    result = run_main([args[0], "--root", str(root), *args[1:]])
    assert_one_line_error(result, Exit.CONFIG, "settings.local.yaml", "run 'datacore-msg init --name NAME'")
    assert not root.exists(), "a command that failed created the root"
    assert not state.exists(), "a command that failed created a state folder"


@pytest.mark.parametrize("status", [False, True], ids=["apply", "status"])
def test_migrate_on_a_root_that_is_not_set_up_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: bool
) -> None:
    """A mistyped --root must not leave an event log behind (and --status never writes)."""
    state = tmp_path / "xdg-state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.delenv("DATACORE_MSG_STATE", raising=False)
    monkeypatch.setenv("USER", "gregor")
    root = tmp_path / "empty-root"
    result = run_main(["migrate", "--root", str(root), *(["--status"] if status else [])])
    assert_one_line_error(result, Exit.CONFIG, "run 'datacore-msg init")
    assert not state.exists()


def test_init_twice_with_another_name_needs_force(gregor: Any) -> None:
    settings = settings_file(gregor)
    before = settings.read_bytes()
    key_before = key_file(gregor).read_bytes()
    result = gregor.cli("init", "--name", "gregor2", "--timezone", "Europe/Ljubljana")
    assert_one_line_error(result, Exit.CONFIG, str(settings), "--force")
    assert settings.read_bytes() == before
    assert not settings.with_name(settings.name + ".bak").exists()
    assert key_file(gregor).read_bytes() == key_before


def test_init_with_force_changes_the_name_keeps_a_backup_and_the_key(gregor: Any) -> None:
    settings = settings_file(gregor)
    before = settings.read_bytes()
    key_before = key_file(gregor).read_bytes()
    result = gregor.cli("init", "--name", "gregor2", "--timezone", "Europe/Ljubljana", "--force")
    assert result.code == 0, result
    assert "Ready: gregor2" in result.out
    assert "(new)" not in result.out  # the existing key is kept
    assert settings.with_name(settings.name + ".bak").read_bytes() == before
    assert "gregor2" in settings.read_text(encoding="utf-8")
    assert key_file(gregor).read_bytes() == key_before
    with gregor.space() as sp:
        assert sp.user == "gregor2"


def test_init_force_changes_only_what_was_asked(gregor: Any) -> None:
    """Renaming with --force must not reset the time zone the user chose before to UTC."""
    result = gregor.cli("init", "--name", "gregor2", "--force")
    assert result.code == 0, result
    with gregor.space() as sp:
        assert sp.user == "gregor2"
        assert sp.settings.timezone == "Europe/Ljubljana"


def test_init_again_with_the_same_name_changes_nothing(gregor: Any) -> None:
    """Repeating init without --timezone keeps the configured zone (no --force needed)."""
    settings = settings_file(gregor)
    before = settings.read_bytes()
    result = gregor.cli("init", "--name", "gregor")
    assert result.code == 0, result
    assert settings.read_bytes() == before
