"""``datacore-msg search``: human lines and JSON, every option, one-line errors with typed exit
statuses, output made safe for the terminal, and the command as its own process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from datacore_msg.app.search import SearchHit
from datacore_msg.cli.exit_codes import Exit
from datacore_msg.cli.search_format import hit_dict, hits_text
from datacore_msg.cli.searchrun import ZONE_DIR, Args, parse_args, run, time_zone, zone_file
from datacore_msg.eventlog.payloads import MessageSent
from peers import carry, data, ok, spoof

ORG_TIME = r"\[\d{4}-\d{2}-\d{2} \w{3} \d{2}:\d{2}\]"


def sent(inst: Any, to: str, text: str, *extra: str) -> str:
    return str(data(inst, "send", to, text, *extra)["id"])


def test_a_hit_is_a_line_with_id_time_ends_and_thread_then_the_snippet(
    gregor: Any, tex: Any, introduce: Any
) -> None:
    introduce(gregor, tex)
    root = sent(tex, "@gregor", "the relay is down again")
    carry(tex, gregor)
    answer = sent(gregor, "@tex", "restarting the relay now", "--reply-to", root)
    out = ok(gregor.cli("search", "relay")).out.splitlines()
    assert len(out) == 4
    heads = {line.split()[0]: line for line in out[::2]}
    assert re.fullmatch(rf"{answer}  {ORG_TIME}  sent     gregor → tex  thread {root}", heads[answer])
    assert re.fullmatch(rf"{root}  {ORG_TIME}  unread   tex → gregor", heads[root])
    snippets = {out[i].split()[0]: out[i + 1] for i in (0, 2)}
    assert snippets[answer] == "    restarting the [relay] now"
    assert ok(gregor.cli("search", "nothing-like-this")).out == "No matches.\n"


def test_json_carries_every_field(gregor: Any) -> None:
    mid = sent(gregor, "@tex", "Café budget, please")
    [hit] = data(gregor, "search", "cafe")
    assert hit["id"] == mid and hit["kind"] == "message"
    assert (hit["from"], hit["to"], hit["thread"], hit["status"], hit["archived"]) == (
        "gregor",
        "tex",
        None,
        "sent",
        False,
    )
    assert hit["snippet"] == "[Café] budget, please" and hit["text"] == "Café budget, please"
    assert hit["score"] > 0 and re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+\d{2}:\d{2}", hit["time"])


def test_options_filter(gregor: Any, tex: Any, introduce: Any) -> None:
    introduce(gregor, tex)
    to_tex = sent(gregor, "@tex", "ship the budget")
    to_ana = sent(gregor, "@ana", "ship the budget too")
    from_tex = sent(tex, "@gregor", "ship the budget, says tex")
    carry(tex, gregor)
    task = data(gregor, "send", "@claude", "ship the budget report")["id"]

    def found(*args: str) -> set[str]:
        return {hit["id"] for hit in data(gregor, "search", "ship budget", *args)}

    assert found() == {to_tex, to_ana, from_tex, task}
    assert found("--from", "@tex") == {from_tex}
    assert found("--to", "ana") == {to_ana}
    assert found("--to", "claude") == {task}
    assert found("--tasks") == {task}
    assert found("--thread", to_ana) == {to_ana}
    assert found("--since", "1h") == {to_tex, to_ana, from_tex, task}
    assert found("--since", "2999-01-01") == set()
    assert len(found("--limit", "1")) == 1


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("search", '- : ""', "--json"), Exit.USAGE, None),
        (("search", "--", '- : ""'), Exit.INVALID_INPUT, "no words to search for"),
        (("search", "x" * 10_240), Exit.INVALID_INPUT, "10,240 characters"),
        (("search", "a\x00"), Exit.OK, None),
        (("search", "budget", "--since", "yesterday-ish"), Exit.INVALID_INPUT, "--since"),
        (("search", "budget", "--from", "no such name!"), Exit.INVALID_INPUT, "--from"),
        (("search", "budget", "--limit", "0"), Exit.USAGE, None),
    ],
)
def test_bad_queries_and_options_are_one_line_errors(
    gregor: Any, args: tuple[str, ...], code: Exit, says: str | None
) -> None:
    result = gregor.cli(*args)
    assert result.code == code, result
    assert "Traceback" not in result.err and "sqlite" not in result.err.lower()
    if says is not None:
        assert result.err.startswith("datacore-msg: error: ") and says in result.err
        assert result.err.count("\n") == 1


def test_bad_query_in_json_has_its_code(gregor: Any) -> None:
    result = gregor.cli("search", "--json", "--", "- :")
    assert result.code == Exit.INVALID_INPUT
    error = json.loads(result.out)["error"]
    assert error["code"] == "bad_query" and "no words" in error["message"]


def test_control_characters_in_a_text_never_reach_the_terminal(gregor: Any) -> None:
    sent(gregor, "@tex", "budget \x1b]52;c;ZXZpbA==\x07 \x1b[2J done")
    out = ok(gregor.cli("search", "budget")).out
    assert "\x1b" not in out and "\x07" not in out
    [hit] = data(gregor, "search", "budget")
    assert "\x1b" in hit["text"], "JSON carries the exact text"


def test_rebuild_leaves_the_answers_unchanged(gregor: Any) -> None:
    for i in range(5):
        sent(gregor, "@tex", f"relay note {i} " + "relay " * i)
    first = data(gregor, "search", "relay")
    ok(gregor.cli("mark", first[0]["id"], "archive"))
    before = data(gregor, "search", "relay")
    assert before[0]["archived"]
    ok(gregor.cli("rebuild"))
    assert data(gregor, "search", "relay") == before


@pytest.mark.slow
def test_search_as_its_own_process(gregor: Any) -> None:
    mid = sent(gregor, "@tex", "a process finds the budget")
    result = gregor.run("search", "budget", "--json")
    assert result.code == 0, result
    assert [hit["id"] for hit in json.loads(result.out)["data"]] == [mid]


# -- the fast path -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "parsed"),
    [
        (["relay"], Args("relay")),
        (["relay", "--json", "--tasks"], Args("relay", tasks=True, as_json=True)),
        (["--from", "@tex", "relay", "--to=ana"], Args("relay", sender="@tex", recipient="ana")),
        (["--limit", "5", "--thread", "msg-1", "x"], Args("x", thread="msg-1", limit=5)),
        (["--root", "/r", "--space=s", "--", "-x"], Args("-x", root="/r", space="s")),
        (["relay", "--since", "1d"], None),
        (["relay", "--help"], None),
        (["relay", "-h"], None),
        (["relay", "more"], None),
        ([], None),
        (["relay", "--limit", "0"], None),
        (["relay", "--limit", "x"], None),
        (["relay", "--limit"], None),
        (["relay", "--from", "a", "--from", "b"], None),
        (["relay", "--nope"], None),
    ],
)
def test_the_fast_path_takes_only_what_it_understands(argv: list[str], parsed: Args | None) -> None:
    assert parse_args(argv) == parsed


def _fast(inst: Any, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int | None, str]:
    capsys.readouterr()
    status = run([*argv, "--root", str(inst.root)])
    return status, capsys.readouterr().out


def test_the_fast_path_answers_like_the_full_one_when_the_rows_are_current(
    gregor: Any, tex: Any, introduce: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    introduce(gregor, tex)
    sent(tex, "@gregor", "relay relay, from tex")
    carry(tex, gregor)
    sent(gregor, "@tex", "the relay again")
    data(gregor, "send", "@claude", "look at the relay")
    for argv in (
        ("relay",),
        ("relay", "--json"),
        ("relay", "--from", "tex", "--json"),
        ("relay", "--to", "claude"),
        ("relay", "--tasks", "--json", "--limit", "1"),
    ):
        full = ok(gregor.cli("search", *argv)).out
        assert _fast(gregor, capsys, *argv) == (0, full), argv


def test_rows_behind_the_log_send_the_search_down_the_full_path(
    gregor: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    sent(gregor, "@tex", "first relay")
    assert _fast(gregor, capsys, "relay")[0] == 0
    spoof(
        gregor,
        "gregor",
        MessageSent(id="msg-20260101-000000-0000abcd", sender="gregor", to="tex", text="second relay"),
    )
    assert _fast(gregor, capsys, "relay") == (None, "")
    assert len(data(gregor, "search", "relay")) == 2, "the full path catches up first"
    status, out = _fast(gregor, capsys, "relay", "--json")
    assert status == 0 and len(json.loads(out)["data"]) == 2


@pytest.mark.parametrize(
    "argv", [("- :",), ("relay", "--from", "bad name!"), ("relay", "--thread", " "), ("x" * 2000,)]
)
def test_errors_are_left_to_the_full_path(
    gregor: Any, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    sent(gregor, "@tex", "relay")
    argv = ("--", *argv) if argv[0].startswith("-") else argv
    assert _fast(gregor, capsys, *argv) == (None, "")


@pytest.mark.slow
def test_as_a_process_a_search_catches_up_then_answers_fast(gregor: Any) -> None:
    sent(gregor, "@tex", "first relay")
    spoof(
        gregor,
        "gregor",
        MessageSent(id="msg-20260101-000000-0000abcd", sender="gregor", to="tex", text="second relay"),
    )
    for _ in range(2):
        result = gregor.run("search", "relay", "--json")
        assert result.code == 0, result
        assert len(json.loads(result.out)["data"]) == 2


# -- the time zone without zoneinfo --------------------------------------------------------------

ZONES = ("Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "America/St_Johns")


@pytest.mark.parametrize("zone", [*ZONES, "UTC"])
def test_the_c_librarys_zone_formats_hits_like_zoneinfo(zone: str) -> None:
    if zone_file(zone, {}) is None:
        pytest.skip(f"no {zone} under {ZONE_DIR}")
    # Each side of the 2026 transitions of these zones, a day's minutes and far ahead.
    starts = (1774746000, 1792890000, 1772935200, 1793494800, 1775318400, 1791043200)
    seconds = [t + d for t in starts for d in (-3601, -1, 0, 1, 1799, 3600)]
    seconds += [1_700_000_000 + 997 * i for i in range(100)] + [0, 4_102_444_800, 2**41 // 1000]
    hits = [
        SearchHit("m", "message", "a", "b", None, s * 1000 + 123, "x", 1.0, "x", "read", False, True, None)
        for s in seconds
    ]
    before = os.environ.get("TZ")
    with time_zone(zone, {}) as tz:
        fast = (hits_text(hits, tz), [hit_dict(hit, tz)["time"] for hit in hits])
    assert os.environ.get("TZ") == before
    assert fast == (hits_text(hits, ZoneInfo(zone)), [hit_dict(hit, ZoneInfo(zone))["time"] for hit in hits])


@pytest.mark.parametrize("zone", ["", "/etc/localtime", "../../etc/passwd", "No/Such_Zone", "Europe/../UTC"])
def test_a_zone_the_c_library_might_read_otherwise_is_left_to_zoneinfo(zone: str) -> None:
    assert zone_file(zone, {}) is None


def test_a_zoneinfo_search_path_of_ones_own_is_left_to_zoneinfo() -> None:
    assert zone_file("UTC", {"PYTHONTZPATH": "/elsewhere"}) is None


def test_a_fast_search_imports_neither_pathlib_nor_zoneinfo_nor_click(gregor: Any) -> None:
    sent(gregor, "@tex", "the budget")
    ok(gregor.cli("search", "budget"))
    code = (
        "import sys; sys.argv = ['datacore-msg', 'search', 'budget']; "
        "from datacore_msg.cli.entry import main; status = main(); "
        "print(status, sorted({'pathlib', 'zoneinfo', 'click'} & set(sys.modules)))"
    )
    outs = []
    for _ in range(2):  # the first one caches the settings for the fast paths
        proc = subprocess.run(
            [sys.executable, "-c", code], env=gregor.env(), capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stderr
        outs.append(proc.stdout.splitlines()[-1])
    assert outs[-1] == "0 []", outs
