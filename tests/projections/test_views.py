"""The views as files: rebuild gives the incremental bytes, ``rebuild --check`` tells the truth, and
hostile message text survives the whole pipeline (CLI -> log -> export/import -> org file) and reads
back exactly in orgparse and in Emacs org-mode."""

from __future__ import annotations

import io
import itertools
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orgparse
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datacore_msg.app import exchange, messages
from datacore_msg.projections.orgtext import decode_body, encode_body
from datacore_msg.projections.render import FILE_HEADER
from datacore_msg.projections.timefmt import org_inactive

DAY_MS = 86_400_000
#: A fixed start for injected clocks, well in the past (imports refuse stamps a day in the future).
CLOCK_START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


class StepClock:
    """An injected wall clock: each reading moves on by ``step_ms``; ``advance`` jumps ahead."""

    def __init__(self, start_ms: int = CLOCK_START_MS, step_ms: int = 61_000) -> None:
        self.now = start_ms
        self.step_ms = step_ms

    def __call__(self) -> int:
        self.now += self.step_ms
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


def view_files(folder: Path) -> dict[str, bytes]:
    """Every view file under ``folder`` (live views and archives), by relative path."""
    out: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        if ".edited-" in path.name:
            continue
        out[path.relative_to(folder).as_posix()] = path.read_bytes()
    return out


def transfer(src: Any, dst: Any, since: int = 0) -> None:
    """Export ``src``'s events (after position ``since``) and import them into ``dst``."""
    data = "".join(exchange.export_lines(src, since)).encode("utf-8")
    result = exchange.import_events(dst, io.BytesIO(data).readlines())
    assert result.rejected == [] or since > 0, result.rejected


# -- rebuild ---------------------------------------------------------------------------------------


def _busy_history(gregor: Any, tex: Any, clock: StepClock) -> None:
    """Sends both ways, a reply thread, every mark, archives in two different months."""
    with gregor.space(clock=clock) as g, tex.space(clock=clock) as t:
        first = messages.send(g, "@tex", "first\n* not a heading").message_id
        second = messages.send(g, "tex", "second", priority="A").message_id
        transfer(g, t)
        answer = messages.reply(t, first, "answer").message_id
        messages.send(t, "@gregor", "from tex\n:END:\n")
        messages.mark(t, first, "read")
        messages.mark(t, second, "todo")
        transfer(t, g)
        messages.mark(g, answer, "todo")
        messages.mark(g, answer, "done")
        messages.mark(g, first, "archive")
        clock.advance(40 * DAY_MS)
        messages.mark(g, answer, "archive")
        messages.reply(g, answer, "thanks")
        transfer(g, t)


def test_rebuild_from_an_empty_views_folder_gives_the_incremental_bytes(gregor: Any, tex: Any) -> None:
    _busy_history(gregor, tex, StepClock())
    for inst in (gregor, tex):
        incremental = view_files(inst.views)
        assert any(name.startswith("archive/") for name in incremental) or inst is tex
        shutil.rmtree(inst.views)
        result = inst.cli("rebuild")
        assert result.code == 0, result.err
        assert result.err == ""
        assert view_files(inst.views) == incremental
        assert inst.cli("rebuild", "--check").code == 0


def test_gregor_archives_land_in_one_file_per_month(gregor: Any, tex: Any) -> None:
    _busy_history(gregor, tex, StepClock())
    names = sorted(view_files(gregor.views))
    archives = [name for name in names if name.startswith("archive/")]
    assert archives == ["archive/inbox-2026-02.org_archive", "archive/outbox-2026-01.org_archive"]


def test_rebuild_check_is_clean_after_commands_and_rebuild_writes_nothing(gregor: Any, tex: Any) -> None:
    _busy_history(gregor, tex, StepClock())
    before = {p: p.stat().st_mtime_ns for p in gregor.views.rglob("*") if p.is_file()}
    check = gregor.cli("rebuild", "--check", "--json")
    assert check.code == 0, check
    assert json.loads(check.out)["data"] == {"checked": True, "differing": [], "written": []}
    rebuilt = gregor.cli("rebuild", "--json")
    assert rebuilt.code == 0
    assert json.loads(rebuilt.out)["data"]["written"] == []
    after = {p: p.stat().st_mtime_ns for p in gregor.views.rglob("*") if p.is_file()}
    assert after == before


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("inbox.org", "edit"),
        ("outbox.org", "edit"),
        ("inbox.org", "delete"),
        ("outbox.org", "delete"),
        ("archive/outbox-2026-01.org_archive", "edit"),
        ("archive/inbox-2026-02.org_archive", "delete"),
        ("archive/inbox-2030-01.org_archive", "create"),
    ],
)
def test_rebuild_check_names_a_changed_or_missing_file_and_exits_14(
    gregor: Any, tex: Any, name: str, damage: str
) -> None:
    _busy_history(gregor, tex, StepClock())
    path = gregor.views / name
    if damage == "edit":
        path.write_bytes(path.read_bytes().replace(b"* DONE", b"* TODO", 1) + b"  typed\n")
    elif damage == "delete":
        path.unlink()
    else:
        path.write_text(FILE_HEADER, encoding="utf-8")
    result = gregor.cli("rebuild", "--check")
    assert result.code == 14, result
    assert name in result.out
    as_json = gregor.cli("rebuild", "--check", "--json")
    assert as_json.code == 14
    assert json.loads(as_json.out)["data"]["differing"] == [name]
    # --check writes nothing: the damage is still there
    assert path.exists() == (damage != "delete")
    # and rebuild repairs the live views / archives from the log
    if damage != "create":
        repaired = gregor.cli("rebuild")
        assert repaired.code == 0, repaired
        assert gregor.cli("rebuild", "--check").code == 0


def test_rebuild_check_is_clean_right_after_init(gregor: Any) -> None:
    """``init`` then ``rebuild --check``: the log is empty, so the views are the empty views."""
    assert gregor.cli("log").code == 0  # a read-only command changes nothing either
    result = gregor.cli("rebuild", "--check")
    assert result.code == 0, result


# -- hypothesis: any sequence of commands keeps rebuild --check clean ------------------------------

_USERS = ("gregor", "tex")
_TEXTS = st.sampled_from(
    ["hi", "* star\n:END:", "#+TITLE: x", "CLOCK: [2026-01-01]", "line\r\nnext", "é\u200f😀"]
)
_COMMANDS = st.one_of(
    st.tuples(st.just("send"), st.sampled_from(_USERS), st.sampled_from((*_USERS, "alice")), _TEXTS),
    st.tuples(st.just("reply"), st.sampled_from(_USERS), st.integers(0, 50), _TEXTS),
    st.tuples(
        st.just("mark"),
        st.sampled_from(_USERS),
        st.integers(0, 50),
        st.sampled_from(("read", "todo", "done", "archive")),
    ),
    st.tuples(st.just("sync"), st.sampled_from(_USERS), st.just(0), st.just("")),
    st.tuples(st.just("wait"), st.just(""), st.integers(1, 45), st.just("")),
    st.tuples(st.just("rebuild"), st.sampled_from(_USERS), st.just(0), st.just("")),
)
_example_counter = itertools.count()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(program=st.lists(_COMMANDS, min_size=1, max_size=25))
def test_rebuild_check_is_clean_after_any_sequence_of_commands(
    make_installation: Callable[..., Any], program: list[tuple[str, str, Any, str]]
) -> None:
    n = next(_example_counter)
    insts = {
        "gregor": make_installation("gregor", tz="Europe/Ljubljana", label=f"cmd{n}-gregor"),
        "tex": make_installation("tex", tz="America/Los_Angeles", label=f"cmd{n}-tex"),
    }
    for inst in insts.values():
        # The first command writes the (empty) live views; right after ``init`` there are none yet,
        # which test_rebuild_check_is_clean_right_after_init covers on its own.
        assert inst.cli("inbox").code == 0
    clock = StepClock(step_ms=7 * 3_600_000)
    spaces = {name: inst.space(clock=clock) for name, inst in insts.items()}
    other = {"gregor": "tex", "tex": "gregor"}
    known: list[str] = []
    try:
        for op, who, arg, extra in program:
            if op == "wait":
                clock.advance(arg * DAY_MS)
                continue
            space = spaces[who]
            mine = [
                m
                for m in known
                if (s := messages.load_message(space, m)) is not None and who in (s.sent.sender, s.sent.to)
            ]
            if op == "send":
                known.append(messages.send(space, arg, extra).message_id)
            elif op == "reply" and mine:
                known.append(messages.reply(space, mine[arg % len(mine)], extra).message_id)
            elif op == "mark" and mine:
                state = messages.load_message(space, mine[arg % len(mine)])
                assert state is not None
                if state.mark_of(who) != "archive":
                    messages.mark(space, state.sent.id, extra)
            elif op == "sync":
                transfer(space, spaces[other[who]])
            elif op == "rebuild":
                insts[who].cli("rebuild")
            for name, inst in insts.items():
                check = inst.cli("rebuild", "--check")
                assert check.code == 0, (name, op, check)
        for name, inst in insts.items():
            incremental = view_files(inst.views)
            assert set(incremental) >= {"inbox.org", "outbox.org"}
            shutil.rmtree(inst.views)
            assert inst.cli("rebuild").code == 0
            assert view_files(inst.views) == incremental, name
    finally:
        for space in spaces.values():
            space.close()


# -- hostile text, end to end ----------------------------------------------------------------------

LONG_LINE = "x" * (60 * 1024)
HOSTILE_TEXTS = [
    "* a heading?\n** another\n*bold* start",
    "#+TITLE: not a keyword\n#+TODO: EVIL | GOOD\n  #+begin_src sh\nrm -rf /\n#+end_src",
    ":END:\nafter end",
    ":PROPERTIES:\n:ID: forged-id\n:FROM: mallory\n:END:",
    "CLOSED: [2026-01-01 Thu 10:00]\nSCHEDULED: <2026-01-02 Fri>\nDEADLINE: <2026-01-03 Sat>",
    '- State "DONE"       from "TODO"       [2026-01-01 Thu 10:00]\nsee - State "X" inline',
    "CLOCK: [2026-01-01 Thu 10:00]--[2026-01-01 Thu 11:00] =>  1:00\nhalf CLOCK: [x] inline",
    "ends with a tag :urgent:work:",
    "[#A] high priority\nTODO pretend keyword",
    "\ttab first\nmiddle\ttab\n\t\t",
    "windows\r\nline\r\nends\r\n",
    "nul\x00byte and \x07 bell and \x1b[31m escape",
    LONG_LINE,
    "right\u200fto\u202eleft \u2067isolate\u2069 and \u2028 separators \u2029",
    "emoji 😀👩‍👩‍👧 and combining e\u0301 and zero\u200bwidth",
    "# comment line\n#\n%%(diary-sexp)\n&%%(x)",
    '-*- mode: fundamental -*-\nLocal Variables:\neval: (message "pwned")\nEnd:',
    ",leading comma\n\\backslash\\x41\\u0041",
    "\n\nleading blank lines\n\n",
    "trailing newline\n",
    "  indented\n    more",
    "\u0085NEL\u000bVT\u000cFF\u001cFS",
]
ALL_IN_ONE = "\n".join(HOSTILE_TEXTS[:12] + HOSTILE_TEXTS[13:])


def _send_all(gregor: Any, tex: Any, texts: list[str]) -> list[str]:
    tex.pin(gregor)  # a sender pinned nowhere is pointed out in the entry (tests/security)
    gregor.pin(tex)  # a name never heard of gets a warning from send (tests/cli/test_send_names.py)
    ids = []
    for text in texts:
        result = gregor.cli("send", "@tex", "-", "--json", stdin=text.encode("utf-8"))
        assert result.code == 0, (text[:40], result)
        assert result.err == ""
        ids.append(json.loads(result.out)["data"]["id"])
    export = gregor.cli("export", "-")
    assert export.code == 0
    imported = tex.cli("import", "-", stdin=export.out.encode("utf-8"))
    assert imported.code == 0, imported
    return ids


def _expected_props(inst: Any, message_id: str) -> dict[str, str]:
    """The drawer the renderer must write for one of gregor's messages to tex, in ``inst``'s zone."""
    with inst.space() as space:
        state = messages.load_message(space, message_id)
        tz = space.tz
    assert state is not None
    created = org_inactive(state.sent_hlc, tz)
    return {"ID": message_id, "FROM": "gregor", "TO": "tex", "CREATED": created}


def _orgparse_entries(path: Path) -> list[tuple[dict[str, Any], str, Any]]:
    root = orgparse.load(str(path))
    out = []
    for node in root[1:]:
        raw = str(node).split("\n")
        end = raw.index("  :END:")
        out.append((dict(node.properties), decode_body(raw[end + 1 :]), node))
    return out


def test_hostile_texts_read_back_exactly_with_orgparse(gregor: Any, tex: Any) -> None:
    texts = [*HOSTILE_TEXTS, ALL_IN_ONE]
    ids = _send_all(gregor, tex, texts)
    for inst, view in ((tex, "inbox.org"), (gregor, "outbox.org")):
        path = inst.views / view
        entries = _orgparse_entries(path)
        assert len(entries) == len(texts), view
        root = orgparse.load(str(path))
        assert len(list(root[1:])) == len(texts)
        assert root.get_file_property_list("TODO") == [
            "TODO WAITING QUEUED WORKING | DONE CANCELLED ARCHIVED"
        ]
        assert root.env.todo_keys == ["TODO", "WAITING", "QUEUED", "WORKING"]
        assert root.env.done_keys == ["DONE", "CANCELLED", "ARCHIVED"]
        for (props, body, node), text, message_id in zip(entries, texts, ids, strict=True):
            assert body == text, (view, text[:40])
            assert props == _expected_props(inst, message_id)
            assert node.level == 1
            expected_tags = {"message", "unread"} if view == "inbox.org" else {"message"}
            assert node.shallow_tags == expected_tags
            assert node.todo == ("TODO" if view == "inbox.org" else "DONE")
            assert node.clock == []
            assert not node.closed and not node.scheduled and not node.deadline
        # the file as a whole: no CR, no NUL, nothing but the header line at column 0 besides headings
        data = path.read_bytes()
        assert b"\r" not in data and b"\x00" not in data
        col0 = [line for line in data.decode("utf-8").split("\n") if line and line[0] != " "]
        assert col0[0] == FILE_HEADER.rstrip("\n")
        assert all(line.startswith("* ") for line in col0[1:])
        assert len(col0) == 1 + len(texts)
    for text in texts:
        assert decode_body(encode_body(text)) == text


# Emacs: parse with org-element and dump, per heading, level, keyword, tags, CLOSED, the node
# properties of its drawer and the raw body text (after the drawer's :END: to the next heading).
EMACS_DUMP = r"""
(require 'org)
(require 'org-element)
(require 'json)
(defun dm-dump (file out &optional force-org)
  (let* ((buf (find-file-noselect file)) (result nil) (mode-on-visit major-mode))
    (with-current-buffer buf
      (setq mode-on-visit major-mode)
      (when (and force-org (not (derived-mode-p 'org-mode))) (org-mode))
      (let* ((tree (org-element-parse-buffer))
             (counts (mapcar (lambda (ty) (cons (symbol-name ty)
                                                (length (org-element-map tree ty #'identity))))
                             '(headline keyword drawer property-drawer node-property clock planning
                               src-block example-block export-block special-block quote-block
                               verse-block center-block comment-block dynamic-block babel-call
                               comment diary-sexp footnote-definition fixed-width inlinetask
                               latex-environment table horizontal-rule)))
             (heads nil))
        (org-element-map tree 'headline
          (lambda (h)
            (goto-char (org-element-property :begin h))
            (let* ((block (org-get-property-block))
                   (drawer (org-element-map h 'property-drawer #'identity nil t))
                   (props (org-element-map drawer 'node-property
                            (lambda (p) (cons (org-element-property :key p)
                                              (org-element-property :value p)))))
                   (body-start (save-excursion (goto-char (cdr block)) (forward-line 1) (point)))
                   (body-end (save-excursion (goto-char body-start)
                                             (if (outline-next-heading) (point) (point-max)))))
              (push (list (cons "level" (org-element-property :level h))
                          (cons "todo" (org-element-property :todo-keyword h))
                          (cons "tags" (vconcat (org-element-property :tags h)))
                          (cons "closed" (let ((c (org-element-property :closed h)))
                                           (and c (org-element-property :raw-value c))))
                          (cons "props" (or props :json-false))
                          (cons "body" (buffer-substring-no-properties body-start body-end)))
                    heads))))
        (setq result (list (cons "coding" (symbol-name buffer-file-coding-system))
                           (cons "mode" (symbol-name mode-on-visit))
                           (cons "todo_keywords" (vconcat org-todo-keywords-1))
                           (cons "counts" counts)
                           (cons "headings" (vconcat (nreverse heads)))))))
    (with-temp-buffer
      (insert (json-encode result))
      (let ((coding-system-for-write 'utf-8-unix))
        (write-region (point-min) (point-max) out)))))
"""

EMACS = shutil.which("emacs")


def emacs_dump(path: Path, tmp: Path, force_org: bool = False) -> dict[str, Any]:
    script = tmp / "dump.el"
    script.write_text(EMACS_DUMP, encoding="utf-8")
    out = tmp / f"{path.name}.json"
    proc = subprocess.run(
        [
            str(EMACS),
            "--batch",
            "-Q",
            "-l",
            str(script),
            "--eval",
            f"(dm-dump {json.dumps(str(path))} {json.dumps(str(out))} {'t' if force_org else 'nil'})",
        ],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")[-2000:]
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    data["stderr"] = proc.stderr.decode("utf-8", "replace")
    return data


def _emacs_body(raw: str) -> str:
    assert raw.endswith("\n")
    return decode_body(raw[:-1].split("\n"))


@pytest.mark.emacs
@pytest.mark.skipif(EMACS is None, reason="emacs not installed")
def test_hostile_texts_read_back_exactly_in_emacs_org_mode(gregor: Any, tex: Any, tmp_path: Path) -> None:
    texts = [*HOSTILE_TEXTS, ALL_IN_ONE]
    ids = _send_all(gregor, tex, texts)
    with tex.space() as t:
        messages.mark(t, ids[0], "archive")
        messages.mark(t, ids[1], "read")
    for inst, view in ((tex, "inbox.org"), (gregor, "outbox.org")):
        dump = emacs_dump(inst.views / view, tmp_path)
        assert dump["mode"] == "org-mode"
        assert dump["coding"] in ("utf-8-unix", "prefer-utf-8-unix"), dump["coding"]
        assert "pwned" not in dump["stderr"]
        assert dump["todo_keywords"] == [
            "TODO",
            "WAITING",
            "QUEUED",
            "WORKING",
            "DONE",
            "CANCELLED",
            "ARCHIVED",
        ]
        shown = texts if view == "outbox.org" else texts[1:]
        shown_ids = ids if view == "outbox.org" else ids[1:]
        counts = dump["counts"]
        assert counts["headline"] == len(shown)
        assert counts["property-drawer"] == len(shown)
        assert counts["keyword"] == 1
        assert counts["node-property"] == 4 * len(shown)
        others = {
            k: v
            for k, v in counts.items()
            if k not in ("headline", "property-drawer", "keyword", "node-property")
        }
        assert others == dict.fromkeys(others, 0)
        for head, text, message_id in zip(dump["headings"], shown, shown_ids, strict=True):
            assert head["level"] == 1
            assert head["props"] == _expected_props(inst, message_id)
            assert _emacs_body(head["body"]) == text, text[:40]
            assert head["closed"] is None
        if view == "inbox.org":
            assert [h["todo"] for h in dump["headings"][:1]] == ["DONE"]
            assert dump["headings"][0]["tags"] == ["message"]
            assert dump["headings"][1]["tags"] == ["unread", "message"]
    # (Emacs does not pick org-mode for *.org_archive by itself: see the test after this one.)
    archive = next((tex.views / "archive").glob("inbox-*.org_archive"))
    dump = emacs_dump(archive, tmp_path, force_org=True)
    assert archive.read_bytes().isascii()
    assert dump["coding"] == "undecided-unix", dump["coding"]
    assert dump["counts"]["headline"] == 1
    assert dump["counts"]["planning"] == 1
    (head,) = dump["headings"]
    assert head["todo"] == "ARCHIVED"
    assert head["closed"] is not None
    assert _emacs_body(head["body"]) == texts[0]


@pytest.mark.emacs
@pytest.mark.skipif(EMACS is None, reason="emacs not installed")
def test_emacs_opens_an_archive_file_in_org_mode(gregor: Any, tex: Any, tmp_path: Path) -> None:
    """Org's own archive files get a ``-*- mode: org -*-`` first line (org-archive.el forces it "for
    future visits"), because ``auto-mode-alist`` knows ``.org`` but not ``.org_archive``. Ours must
    open in org-mode too, or a user visiting an archive sees a plain text buffer."""
    (message_id,) = _send_all(gregor, tex, ["to be archived"])
    assert tex.cli("mark", message_id, "archive").code == 0
    archive = next((tex.views / "archive").glob("inbox-*.org_archive"))
    dump = emacs_dump(archive, tmp_path)
    assert dump["mode"] == "org-mode"
    assert dump["counts"]["headline"] == 1


def test_rebuild_of_a_log_whose_subject_column_was_edited_folds_from_the_payloads(
    gregor: Any, tex: Any
) -> None:
    """Rebuild reads the log subject by subject from the stored ``subject`` column; when that column
    was edited behind the triggers' back (``verify`` reports it), it folds from the payloads instead,
    as before, and writes the same bytes as the incremental views."""
    import sqlite3

    from datacore_msg.app import audit

    _busy_history(gregor, tex, StepClock())
    assert gregor.cli("rebuild").code == 0
    incremental = view_files(gregor.views)
    with gregor.space() as g:
        path = g.store.path
        marks = g.store.query(actor="gregor", type_name="message.marked")
        target = next(e for e in marks if e.data["mark"] == "archive")
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("DROP TRIGGER events_no_update")
        conn.execute("UPDATE events SET subject = 'msg-19990101-000000-00000000' WHERE id = ?", (target.id,))
    finally:
        conn.close()
    shutil.rmtree(gregor.views)
    with gregor.space() as g:
        assert any("subject index" in p.reason for p in g.store.verify())
        audit.rebuild(g)
        assert audit.rebuild(g, check_only=True).differing == []
    assert view_files(gregor.views) == incremental
