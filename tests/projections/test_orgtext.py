"""Tests of datacore_msg.projections.orgtext: exact round trips, and structural inertness of encoded
bodies and titles as seen by orgparse (both ``load`` and ``loads``) and by Emacs/org-mode itself."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orgparse
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from orgparse.date import OrgDateClock
from orgparse.node import OrgNode, parse_comment

from datacore_msg.errors import InvalidInput
from datacore_msg.projections.orgtext import (
    BREAK_MARK,
    INDENT,
    SPECIAL,
    TITLE_KEYWORDS,
    UNTITLED,
    decode_body,
    encode_body,
    is_safe_property_value,
    safe_line,
    safe_title,
)

FILE_HEADER = "#+TODO: TODO WAITING QUEUED WORKING | DONE CANCELLED ARCHIVED"
TODO_KEYS = ["TODO", "WAITING", "QUEUED", "WORKING"]
DONE_KEYS = ["DONE", "CANCELLED", "ARCHIVED"]
LONG_LINE = "x" * 100_000

# A local-variables block that Emacs honours when written raw (see test_emacs_canary_is_pwned):
# it would decode the file as Latin-1, leave org-mode and run code.
LOCAL_VARIABLES_PAYLOAD = (
    "Local Variables:\nmode: fundamental\ncoding: latin-1\neval: (setq datacore-pwned t)\nEnd:"
)

FRAGMENTS = [
    "*",
    "* heading",
    "** x",
    "#+TITLE: x",
    "#+TODO: PWNED | GONE",
    "#+begin_src sh",
    "#+end_src",
    "#+STARTUP: showeverything",
    ":END:",
    ":end:",
    ":PROPERTIES:",
    ":ID: fake",
    ":LOGBOOK:",
    "CLOSED: [2026-01-01 Thu 10:00]",
    "SCHEDULED: <2026-01-01>",
    "DEADLINE: <2026-01-01 Thu>",
    '- State "DONE"       from "TODO"       [2026-01-01 Thu 10:00]',
    "CLOCK: [2026-01-01 Thu 10:00]--[2026-01-01 Thu 11:00] =>  1:00",
    "clock: [2026-01-01 Thu 10:00]",
    " :tag:",
    "[#A]",
    "# comment",
    "#",
    "%%(diary-date 1 1 2026)",
    "Local Variables:",
    "local variables:",
    "End:",
    "-*- coding: latin-1 -*-",
    "\t",
    "\r\n",
    "\r",
    "\n",
    "\x00",
    "\x1b",
    "\x7f",
    "\u2028",
    "\u2029",
    "\x85",
    "\x0b",
    "\x0c",
    "\x1c",
    LONG_LINE,
    "\u200f",
    "\u202e",
    "😀👍🏽🇩🇪",
    ",",
    ",,",
    "\\",
    "\\\\",
    ",#+x",
    "\\x41",
    "\\u2028",
    "  ",
    " ",
    "plain words",
]


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


utf8_texts = st.text().filter(_utf8)
any_texts = st.text(st.one_of(st.characters(), st.characters(categories=["Cs"])))
hostile_texts = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8).filter(_utf8)),
    min_size=1,
    max_size=12,
).map("".join)

# Fixed hostile messages for the file-level tests (orgparse and Emacs). The Local Variables payload
# comes last so that it sits in the last 3000 characters of the file, where Emacs looks for it.
HOSTILE_MESSAGES = [
    "* heading injection",
    "** x\n*** y\n* z :tag:",
    "#+TITLE: x",
    "#+begin_src sh\nrm -rf ~\n#+end_src",
    "#+BEGIN_EXAMPLE\n* not a heading\n#+END_EXAMPLE",
    ":END:",
    ":PROPERTIES:\n:ID: fake\n:FROM: mallory\n:END:",
    ":ID: fake",
    "CLOSED: [2026-01-01 Thu 10:00]",
    "SCHEDULED: <2026-01-01>\nDEADLINE: <2026-01-02 Fri>",
    '- State "DONE"       from "TODO"       [2026-01-01 Thu 10:00]',
    "CLOCK: [2026-01-01 Thu 10:00]--[2026-01-01 Thu 11:00] =>  1:00",
    "clock: [2026-01-01 Thu 10:00]--[2026-01-01 Thu 11:00] =>  1:00",
    "I logged CLOCK: [2026-01-01 Thu 10:00]--[2026-01-01 Thu 11:00] =>  1:00 today",
    'then - State "DONE" from "TODO" [2026-01-01 Thu 10:00] happened, CLOSED: [2026-01-01 Thu]',
    ':LOGBOOK:\n- State "DONE" from "TODO" [2026-01-01 Thu 10:00]\n'
    "CLOCK: [2026-01-01 Thu 10:00]--[2026-01-01 Thu 11:00] =>  1:00\n:END:",
    "subject line :tag:",
    "[#A] urgent",
    "\tindented\twith tabs\n    and spaces",
    "windows\r\nline\r\nends\r\n",
    "old mac\rline",
    "nul\x00byte",
    "line\u2028separator\u2029paragraph",
    "nel\x85here",
    "vt\x0bff\x0cfs\x1cgs\x1drs\x1eus\x1f",
    "esc \x1b[31mred\x1b[0m and del \x7f and c1 \x9b",
    LONG_LINE,
    "rtl \u200f mark \u202e override \u2066isolate\u2069",
    "emoji 😀👍🏽 and flags 🇩🇪, CJK 漢字, combining e\u0301",
    ",leading comma\n,,two\n ,space comma",
    "back\\slash \\x41 \\u2028 \\\\ \\",
    ",#+x",
    "\\x41",
    "   #+TODO: PWNED | GONE\n#+TODO: PWNED2 | GONE2\n#+SETUPFILE: https://example.com/evil.org",
    '  * indented star\n\t- State "X" from "Y" [2026-01-01 Thu 10:00]',
    "# a comment\n#\n#not a comment",
    "%%(diary-anniversary 1 1 2000)\n&%%(diary-date 1 1 2026)",
    "\n",
    "\n\nblank lines around\n\n",
    "trailing newline\n",
    "  \n   \n\t",
    "[fn:1] footnote\n<<<radio>>> and <<target>>",
    "-*- coding: latin-1; mode: fundamental -*-",
    "coding: latin-1\n# local variables:\n# coding: latin-1\n# eval: (setq datacore-pwned t)\n# End:",
    LOCAL_VARIABLES_PAYLOAD,
]

MESSAGE_IDS = [f"msg-20260311-143000-{i:08d}" for i in range(len(HOSTILE_MESSAGES))]
CREATED = "[2026-03-11 Wed 14:30]"


def expected_properties(i: int) -> dict[str, str]:
    return {"ID": MESSAGE_IDS[i], "FROM": "gregor", "TO": "tex", "CREATED": CREATED}


def entry_lines(i: int, text: str, body: list[str] | None = None) -> list[str]:
    lines = [f"* TODO {CREATED} :unread:message:", "  :PROPERTIES:"]
    lines += [f"  {f':{k}:':<10} {v}" for k, v in expected_properties(i).items()]
    lines.append("  :END:")
    lines += encode_body(text) if body is None else body
    return lines


def document(texts: list[str]) -> str:
    lines = [FILE_HEADER]
    for i, text in enumerate(texts):
        lines += entry_lines(i, text)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Pure properties


# Regexes of the consumers (copied from Emacs 28.2 / Org 9.5.5, or taken from orgparse) that must
# never match an encoded body line.
EMACS_LINE_RES = [
    re.compile(r"^\*+ "),  # headlines
    re.compile(r"^[ \t]*#\+", re.I),  # keywords, blocks
    re.compile(r"^[ \t]*#( |\t|$)"),  # comments
    re.compile(r"^[ \t]*:[^ \t\n]+:", re.I),  # drawers, node properties
    re.compile(r"^[ \t]*(CLOCK|CLOSED|SCHEDULED|DEADLINE):", re.I),  # clock, planning
    re.compile(r"^&?%%\("),  # diary sexps
    re.compile(r"(\bCLOSED|\bCLOCK) *\[|- +State \""),  # agenda log view (anywhere)
    re.compile(r"Local Variables:", re.I),  # file-local variables (anywhere)
]


def assert_inert(line: str) -> None:
    assert line == "" or line.startswith(INDENT), line[:80]
    assert not any(ch in SPECIAL for ch in line), line[:80]
    line.encode("utf-8")
    assert line.splitlines() == ([line] if line else [])
    for rx in EMACS_LINE_RES:
        assert rx.search(line) is None, (rx.pattern, line[:80])
    assert not OrgDateClock.from_str(line), line[:80]
    assert OrgNode._repeated_tasks_re.search(line) is None, line[:80]
    assert parse_comment(line) is None, line[:80]


def check_round_trip(text: str) -> None:
    lines = encode_body(text)
    assert decode_body(lines) == text
    assert encode_body(decode_body(lines)) == lines
    assert all("\n" not in line for line in lines)
    if text:
        assert len(lines) == text.count("\n") + 1


@settings(max_examples=200, deadline=None)
@given(utf8_texts)
@example("")
@example("\n")
@example("a\n")
@example(LONG_LINE)
def test_round_trip_utf8(text: str) -> None:
    check_round_trip(text)
    for line in encode_body(text):
        assert_inert(line)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_texts)
def test_round_trip_hostile(text: str) -> None:
    check_round_trip(text)
    for line in encode_body(text):
        assert_inert(line)


@settings(max_examples=100, deadline=None)
@given(any_texts)
@example("\ud800")
@example("a\udfffb\n\ud83d\ude00")
def test_round_trip_any_str_including_lone_surrogates(text: str) -> None:
    check_round_trip(text)
    for line in encode_body(text):
        line.encode("utf-8")  # surrogates are escaped, so the file can always be written


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("", []),
        ("\n", ["", ""]),
        ("hello", ["  hello"]),
        ("a\n\nb\n", ["  a", "", "  b", ""]),
        ("  leading spaces", ["    leading spaces"]),
        ("\ttab", ["  \ttab"]),
        ("back\\slash \\x41", ["  back\\slash \\x41"]),
        ("* star", ["  ,* star"]),
        ("   * star", ["  ,   * star"]),
        ("#+TITLE: x", ["  ,#+TITLE: x"]),
        ("# comment", ["  ,# comment"]),
        ("#", ["  ,#"]),
        ("#hashtag", ["  #hashtag"]),
        (":END:", ["  ,:END:"]),
        (":ID: fake", ["  ,:ID: fake"]),
        (": fixed width", ["  : fixed width"]),
        ("Deadline: Friday", ["  ,Deadline: Friday"]),
        ("the deadline: Friday", ["  the deadline: Friday"]),
        ("- State of things", ["  ,- State of things"]),
        ("- Statement", ["  - Statement"]),
        ("%%(x)", ["  ,%%(x)"]),
        (",x", ["  ,,x"]),
        (" ,x", ["   ,x"]),
        ("\\", ["  \\"]),
        (",\\", ["  ,,\\\\"]),
        ("a\rb", ["  ,a\\x0db"]),
        ("nul\x00", ["  ,nul\\x00"]),
        ("del\x7f nel\x85", ["  ,del\\x7f nel\\x85"]),
        ("sep\u2028", ["  ,sep\\u2028"]),
        ("lone \ud800", ["  ,lone \\ud800"]),
        ("x CLOCK: y", ["  ,x CLOCK\u2060: y"]),
        ("x clock: y", ["  x clock: y"]),
        ("CLOCK: [x]", ["  ,CLOCK\u2060: [x]"]),
        ("closed CLOSED: z", ["  ,closed CLOSED\u2060: z"]),
        ("x - State y", ["  x - State y"]),
        ('x -\tState "y"', ['  ,x -\u2060\tState "y"']),
        ('- State "DONE"', ['  ,-\u2060 State "DONE"']),
        ("% Local VARIABLES: x", ["  ,% Local VARIABLES\u2060: x"]),
        ("mode: org", ["  mode: org"]),
        ("\\ and CLOCK:", ["  ,\\\\ and CLOCK\u2060:"]),
        # the text's own word joiner: written literally on a plain line, escaped on an escaped one
        ("a\u2060b", ["  a\u2060b"]),
        ("CLOCK:\u2060", ["  ,CLOCK\u2060:\\u2060"]),
        ('- State "x" \u2060', ['  ,-\u2060 State "x" \\u2060']),
        ("é ü 漢 😀 \u200f", ["  é ü 漢 😀 \u200f"]),
    ],
)
def test_encode_table(text: str, lines: list[str]) -> None:
    assert encode_body(text) == lines
    assert decode_body(lines) == text


def test_empty_line_alone_decodes_to_empty_text() -> None:
    assert decode_body([]) == ""
    assert decode_body([""]) == ""


@pytest.mark.parametrize(
    ("lines", "fragment"),
    [
        (["no indent"], "line 1 is not empty and does not start with the two-space indent"),
        (["  ok", " one space"], "line 2 is not empty and does not start"),
        (["\tx"], "line 1 is not empty and does not start"),
        (["  "], "line 1 is not as the encoder writes it"),
        (["  ,plain"], "line 1 is not as the encoder writes it"),
        (["  ,"], "line 1 is not as the encoder writes it"),
        (["  * star"], "line 1 is not as the encoder writes it"),
        (["  :END:"], "line 1 is not as the encoder writes it"),
        (["  a\rb"], "line 1 is not as the encoder writes it"),
        (["  a\nb"], "line 1 is not as the encoder writes it"),
        (["  x CLOCK: y"], "line 1 is not as the encoder writes it"),
        (["  ,\\x41"], "line 1 is not as the encoder writes it"),
        (["  ,* \\x3a"], "line 1 is not as the encoder writes it"),
        (["  ,CLOCK\\x3a"], "line 1 is not as the encoder writes it"),  # the old escape
        (["  ,x CLOCK: y"], "line 1 is not as the encoder writes it"),  # the mark missing
        (["  ,x\u2060 y"], "line 1 is not as the encoder writes it"),  # a mark where none goes
        (["  ,\\u0000"], "line 1 is not as the encoder writes it"),
        (["  ,\\q"], "line 1 has a malformed escape at column 4"),
        (["  ,ab\\"], "line 1 has a malformed escape at column 6"),
        (["  ,\\x4"], "line 1 has a malformed escape"),
        (["  ,\\x0D"], "line 1 has a malformed escape"),
        (["  ,\\u202"], "line 1 has a malformed escape"),
        (["  ,\\U00002028"], "line 1 has a malformed escape"),
        (["  ,\\n"], "line 1 has a malformed escape"),
        (["", "", "  ,\\"], "line 3 has a malformed escape"),
    ],
)
def test_decode_rejects_what_the_encoder_never_writes(lines: list[str], fragment: str) -> None:
    with pytest.raises(InvalidInput) as info:
        decode_body(lines)
    assert fragment in str(info.value)
    assert info.value.code == "invalid_input"


def test_decode_error_shows_a_shortened_line() -> None:
    with pytest.raises(InvalidInput) as info:
        decode_body(["oops" + "y" * 1000])
    assert "'oopsyyy" in str(info.value)
    assert len(str(info.value)) < 200


# ---------------------------------------------------------------------------------------------
# orgparse: a whole view file, read like our hand-edit detection reads it


def body_lines_of(node: Any) -> list[str]:
    lines: list[str] = str(node).split("\n")
    return lines[lines.index("  :END:") + 1 :]


def check_with_orgparse(root: Any, texts: list[str]) -> None:
    assert root.env.todo_keys == TODO_KEYS
    assert root.env.done_keys == DONE_KEYS
    assert root.get_file_property_list("TODO") == [FILE_HEADER.removeprefix("#+TODO: ")]
    nodes = list(root[1:])
    assert len(nodes) == len(texts)
    assert len(root.children) == len(texts)
    for i, (node, text) in enumerate(zip(nodes, texts, strict=True)):
        assert node.level == 1
        assert node.todo == "TODO"
        assert node.priority is None
        assert node.tags == {"unread", "message"}
        assert node.get_heading(format="raw") == CREATED
        assert node.properties == expected_properties(i)
        assert not node.scheduled
        assert not node.deadline
        assert not node.closed
        assert node.clock == []
        assert node.repeated_tasks == []
        assert node.children == []
        assert decode_body(body_lines_of(node)) == text


def test_orgparse_file(tmp_path: Path) -> None:
    doc = document(HOSTILE_MESSAGES)
    path = tmp_path / "inbox.org"
    path.write_bytes(doc.encode("utf-8"))
    assert b"\r" not in path.read_bytes()
    assert b"\x00" not in path.read_bytes()
    check_with_orgparse(orgparse.load(path), HOSTILE_MESSAGES)
    check_with_orgparse(orgparse.load(str(path)), HOSTILE_MESSAGES)
    check_with_orgparse(orgparse.loads(doc), HOSTILE_MESSAGES)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(hostile_texts, utf8_texts), min_size=1, max_size=4))
def test_orgparse_documents(texts: list[str]) -> None:
    check_with_orgparse(orgparse.loads(document(texts)), texts)


def test_orgparse_control_raw_bodies_do_break_the_structure() -> None:
    """The same file with bodies merely indented: orgparse is fooled, so the checks above bite."""
    raw = ["CLOCK: [2026-01-01 Thu 10:00]--[2026-01-01 Thu 11:00] =>  1:00", "#+TODO: PWNED | X"]
    lines = [FILE_HEADER]
    for i, text in enumerate(raw):
        lines += entry_lines(i, text, body=["  " + line for line in text.split("\n")])
    root = orgparse.loads("\n".join(lines) + "\n")
    assert root[1].clock != []
    assert "PWNED" in root.env.todo_keys


# ---------------------------------------------------------------------------------------------
# Titles and property values

TITLE_CASES = [
    ("Hello world", "Hello world"),
    ("", UNTITLED),
    ("   \n\t\n", UNTITLED),
    ("\n\n  second line wins  \nthird", "second line wins"),
    ("TODO buy milk", "todo buy milk"),
    ("DONE", "done"),
    ("WAITING for you", "waiting for you"),
    ("COMMENT secret", "comment secret"),
    ("Todo is fine", "Todo is fine"),
    ("TODO: not a keyword", "TODO: not a keyword"),
    ("[#A] urgent", "[A] urgent"),
    ("[#a] lower case", "[a] lower case"),
    ("[#] odd", "[] odd"),
    ("TODO [#A] both", "todo [#A] both"),
    ("subject :tag:", "subject :tag"),
    ("subject :a:b:  ", "subject :a:b"),
    ("word:tag:", "word:tag"),
    ("Agenda:", "Agenda"),
    ("ratio 1:2", "ratio 1:2"),
    ("*** starred", "starred"),
    ("*bold* text", "bold* text"),
    ("#+TITLE: x", "+TITLE: x"),
    (",comma", "comma"),
    ("* TODO [#B] nested :x:", "todo [#B] nested :x"),
    ("a\tb\x00c\rd\u2028e\x85f", "a b c d e f"),
    ("x" * 100, "x" * 59 + "…"),
    ("word " * 20, ("word " * 12).rstrip() + "…"),
    (":::", UNTITLED),
    ("***\nreal title", "real title"),
    ("lone \ud800 surrogate", "lone surrogate"),
    ("TODO\tx", "todo x"),
    ("TODO\u00a0x", "todo x"),
    ("漢字 😀 \u200f", "漢字 😀 \u200f"),
]


@pytest.mark.parametrize(("text", "title"), TITLE_CASES)
def test_safe_title_table(text: str, title: str) -> None:
    assert safe_title(text) == title


def test_safe_title_limit() -> None:
    assert safe_title("abcdef", limit=6) == "abcdef"
    assert safe_title("abcdefg", limit=6) == "abcde…"
    assert safe_title("ab    cdefg", limit=4) == "ab…"
    assert safe_title("abc", limit=1) == "…"
    with pytest.raises(ValueError, match="limit"):
        safe_title("abc", limit=0)


@settings(max_examples=200, deadline=None)
@given(st.one_of(hostile_texts, any_texts), st.integers(min_value=1, max_value=80))
def test_safe_title_properties(text: str, limit: int) -> None:
    title = safe_title(text, limit)
    assert title
    assert len(title) <= max(limit, len(UNTITLED))
    assert not any(ch in SPECIAL or ch == "\t" for ch in title)
    title.encode("utf-8")
    assert title == title.strip()
    assert title[0] not in "*#,"
    assert not title.endswith(":")
    assert title.split(" ")[0] not in TITLE_KEYWORDS
    assert not title.startswith("[#")
    for prefix, todo in (("* ", None), ("* TODO ", "TODO")):
        node = orgparse.loads(f"{FILE_HEADER}\n{prefix}{title}\n")[1]
        assert node.todo == todo
        assert node.tags == set()
        assert node.priority is None
        assert node.get_heading(format="raw") == title


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("gregor", True),
        ("msg-20260311-143000-00000001", True),
        ("[2026-03-11 Wed 14:30]", True),
        ("two words", True),
        ("", False),
        (" lead", False),
        ("trail ", False),
        ("\tx", False),
        ("x\u00a0", False),
        ("a\nb", False),
        ("a\rb", False),
        ("a\x00b", False),
        ("a\x85b", False),
        ("a\u2028b", False),
        ("a\ud800b", False),
        ("x:END:y", False),
        ("x:end:y", False),
        (":END:", False),
        ("END", True),
    ],
)
def test_is_safe_property_value(value: str, safe: bool) -> None:
    assert is_safe_property_value(value) is safe


# ---------------------------------------------------------------------------------------------
# Emacs: one batch process reads the view file, a file of titles and a canary

EMACS_SCRIPT = r""";;; -*- lexical-binding: t -*-
(require 'org)
(require 'org-element)
(require 'json)
(require 'seq)

;; Should the escaping ever fail, hostile file-local variables take effect instead of being asked
;; about (in batch mode, a question would just fail on end of input).
(setq enable-local-variables :all
      enable-local-eval t)

(defconst dc-types
  '(headline inlinetask keyword babel-call clock planning drawer property-drawer node-property
    src-block example-block export-block comment-block special-block quote-block verse-block
    center-block dynamic-block comment diary-sexp footnote-definition))

(defun dc-bool (x) (if x t :json-false))

(defun dc-entry ()
  (let* ((hl (org-element-at-point))
         (block (org-get-property-block))
         (props (seq-remove (lambda (p) (equal (car p) "CATEGORY"))
                            (org-entry-properties nil 'standard)))
         (body-start (and block
                          (save-excursion (goto-char (cdr block)) (forward-line 1) (point)))))
    (list :title (org-element-property :raw-value hl)
          :level (org-element-property :level hl)
          :todo (org-get-todo-state)
          :tags (vconcat (org-get-tags nil t))
          :priority (org-element-property :priority hl)
          :commented (dc-bool (org-element-property :commentedp hl))
          :scheduled (org-entry-get nil "SCHEDULED")
          :deadline (org-entry-get nil "DEADLINE")
          :closed (org-entry-get nil "CLOSED")
          :properties (vconcat (mapcar (lambda (p) (vector (car p) (cdr p))) props))
          :body (and body-start
                     (buffer-substring-no-properties body-start (org-entry-end-position))))))

(defun dc-visit (path)
  "Visit PATH as a user would; what Emacs made of the file before org-mode parsed anything."
  (with-current-buffer (find-file-noselect path)
    (list :coding (symbol-name buffer-file-coding-system)
          :mode (symbol-name major-mode)
          :local-variables (format "%S" file-local-variables-alist)
          :pwned (dc-bool (boundp 'datacore-pwned))
          :text (buffer-substring-no-properties (point-min) (point-max)))))

(defun dc-report (path)
  (let ((visit (dc-visit path)))
    (with-current-buffer (find-file-noselect path)
      (if (not (derived-mode-p 'org-mode))
          visit                         ; taken over: the Python side reports the mode
        (let ((tree (org-element-parse-buffer)))
          (append
           visit
           (list :todo-keywords (vconcat org-todo-keywords-1)
                 :counts (apply #'append
                                (mapcar (lambda (type)
                                          (list (intern (format ":%s" type))
                                                (length (org-element-map tree type #'identity))))
                                        dc-types))
                 :entries (vconcat (org-map-entries #'dc-entry)))))))))

(let* ((args command-line-args-left)
       (out (nth 0 args))
       ;; The canary goes last: it does set datacore-pwned.
       (report (list :body (dc-report (nth 1 args))
                     :titles (dc-report (nth 2 args))
                     :canary (dc-visit (nth 3 args)))))
  (setq command-line-args-left nil)
  (let ((coding-system-for-write 'utf-8-unix))
    (write-region (json-encode report) nil out nil 'silent)))
"""

RAW_TITLE_CONTROLS = ["subject :tag:", "TODO buy milk", "[#A] urgent", "COMMENT secret"]


@pytest.fixture(scope="module")
def emacs_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    emacs = shutil.which("emacs")
    if emacs is None:
        pytest.skip("emacs is not on PATH (install emacs-nox to run the org-mode checks)")
    tmp = tmp_path_factory.mktemp("emacs")
    body_file = tmp / "inbox.org"
    body_file.write_bytes(document(HOSTILE_MESSAGES).encode("utf-8"))
    titles = [safe_title(text) for text, _ in TITLE_CASES]
    title_lines = [FILE_HEADER]
    for title in titles:
        title_lines += [f"* {title}", f"* TODO {title}"]
    title_lines += [f"* {raw}" for raw in RAW_TITLE_CONTROLS]
    (tmp / "titles.org").write_bytes(("\n".join(title_lines) + "\n").encode("utf-8"))
    raw_payload = ["  " + line for line in LOCAL_VARIABLES_PAYLOAD.split("\n")]
    canary = [FILE_HEADER, *entry_lines(0, "", body=["  é", *raw_payload])]
    (tmp / "canary.org").write_bytes(("\n".join(canary) + "\n").encode("utf-8"))
    (tmp / "report.el").write_text(EMACS_SCRIPT, encoding="utf-8")
    out = tmp / "report.json"
    files = [body_file, tmp / "titles.org", tmp / "canary.org"]
    proc = subprocess.run(
        [emacs, "--batch", "-Q", "-l", str(tmp / "report.el"), str(out), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp,
        env={**os.environ, "LC_ALL": "C.UTF-8", "HOME": str(tmp)},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    report["titles_written"] = titles
    return report


@pytest.mark.emacs
def test_emacs_file_level(emacs_report: dict[str, Any], tmp_path: Path) -> None:
    body = emacs_report["body"]
    assert body["coding"] == "utf-8-unix"
    assert body["mode"] == "org-mode"
    assert body["local-variables"] == "nil"
    assert body["pwned"] is False
    assert body["todo-keywords"] == TODO_KEYS + DONE_KEYS
    assert body["text"] == document(HOSTILE_MESSAGES)  # decoded exactly as we wrote it


@pytest.mark.emacs
def test_emacs_structure(emacs_report: dict[str, Any]) -> None:
    n = len(HOSTILE_MESSAGES)
    counts = emacs_report["body"]["counts"]
    expected = dict.fromkeys(counts, 0)
    expected.update({"headline": n, "keyword": 1, "property-drawer": n, "node-property": 4 * n})
    assert counts == expected


@pytest.mark.emacs
def test_emacs_entries(emacs_report: dict[str, Any]) -> None:
    entries = emacs_report["body"]["entries"]
    assert len(entries) == len(HOSTILE_MESSAGES)
    for i, (entry, text) in enumerate(zip(entries, HOSTILE_MESSAGES, strict=True)):
        assert entry["title"] == CREATED
        assert entry["level"] == 1
        assert entry["todo"] == "TODO"
        assert entry["tags"] == ["unread", "message"]
        assert entry["priority"] is None
        assert entry["commented"] is False
        assert entry["scheduled"] is None
        assert entry["deadline"] is None
        assert entry["closed"] is None
        assert dict(entry["properties"]) == expected_properties(i)
        region: str = entry["body"]
        lines = region.removesuffix("\n").split("\n") if region else []
        assert decode_body(lines) == text, i


#: The lines of HOSTILE_MESSAGES whose only risk is a token of rule (d) or a construct of rule (b):
#: no control character, backslash or word joiner of their own, which still show as escapes.
def _token_only(line: str) -> bool:
    return not re.search(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\\\u2060]", line)


@pytest.mark.emacs
def test_emacs_shows_token_lines_as_sent(emacs_report: dict[str, Any]) -> None:
    """What a person reads in Emacs is the text as sent: no ``\\x3a``/``\\x2d`` garbage; the line
    differs from the text only by org's leading comma and the zero-width word joiners."""
    entries = emacs_report["body"]["entries"]
    seen_tokens = 0
    for entry, text in zip(entries, HOSTILE_MESSAGES, strict=True):
        shown = (entry["body"] or "").removesuffix("\n").split("\n")
        assert "\\x3a" not in "\n".join(shown) and "\\x2d" not in "\n".join(shown)
        for line, sent in zip(shown, text.split("\n"), strict=True):
            if not sent or not _token_only(sent):
                continue
            visible = line.replace(BREAK_MARK, "")
            assert visible in (INDENT + sent, INDENT + "," + sent), (visible, sent)
            seen_tokens += BREAK_MARK in line
    assert seen_tokens >= 5  # CLOSED:, CLOCK:, - State in bodies were all broken by marks


@pytest.mark.emacs
def test_emacs_titles(emacs_report: dict[str, Any]) -> None:
    titles = emacs_report["titles_written"]
    entries = emacs_report["titles"]["entries"]
    assert len(entries) == 2 * len(titles) + len(RAW_TITLE_CONTROLS)
    for k, title in enumerate(titles):
        for entry, todo in ((entries[2 * k], None), (entries[2 * k + 1], "TODO")):
            assert entry["title"] == title
            assert entry["todo"] == todo
            assert entry["tags"] == []
            assert entry["priority"] is None
            assert entry["commented"] is False
    # Controls: the raw texts do what safe_title prevents.
    tags, todo, priority, comment = entries[2 * len(titles) :]
    assert tags["tags"] == ["tag"]
    assert todo["todo"] == "TODO"
    assert priority["priority"] == ord("A")
    assert comment["commented"] is True


@pytest.mark.emacs
def test_emacs_canary_is_pwned(emacs_report: dict[str, Any]) -> None:
    """Control: the Local Variables payload, merely indented, does take over Emacs."""
    canary = emacs_report["canary"]
    assert canary["coding"] == "iso-latin-1-unix"
    assert canary["mode"] == "fundamental-mode"
    assert canary["pwned"] is True


@pytest.mark.parametrize(
    "text",
    ["CLOCK: [2026-01-01 Thu 10:00]", 'see - State "DONE" from "TODO"', "Local Variables: x", "ok CLOSED: y"],
)
def test_safe_line_breaks_tokens_invisibly(text: str) -> None:
    """A reason quoting a clock line or a state note reads as typed (less the invisible marks) in a
    property value or LOGBOOK note, and no consumer finds the token."""
    line = safe_line(text)
    assert BREAK_MARK in line
    assert line.replace(BREAK_MARK, "") == text
    assert not re.search(r"(?i:local variables):|CLOCK:|CLOSED:|-\s+State\s+\"", line)
