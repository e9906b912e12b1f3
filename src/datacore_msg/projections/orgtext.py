r"""Arbitrary user text inside org files: message bodies, heading titles, property values. Pure.

Theory of operation
-------------------
A view file is read by three kinds of consumers, and a message body must mean *nothing* to any of
them except "these are the lines of the text":

* **Emacs itself**, before org-mode runs: it guesses the file's coding system and end-of-line
  convention from its bytes, and it reads *file-local variables* from a ``Local Variables:`` block
  anywhere in the last 3000 characters (case-insensitive, with any prefix, so an indented body line
  works). Such a block may set ``coding:`` (the file is then decoded as, say, Latin-1), ``mode:``
  (the file is no longer in org-mode) or ``eval:`` (Emacs runs code, after asking, or silently
  under ``enable-local-variables :all``). Verified with Emacs 28.2: a raw body ending in
  ``Local Variables:`` / ``eval: ...`` / ``End:`` switches the buffer to ``iso-latin-1-unix`` and
  ``fundamental-mode`` and evaluates the form.
* **org-mode** (``org-element``, the agenda, clocking, logging): many constructs are recognised on
  *indented* lines, case-insensitively -- ``#+KEYWORD:`` (``#+TODO:`` changes the file's keywords,
  ``#+SETUPFILE:``/``#+BIND:``/``#+CALL:`` pull in or run things), ``#+begin_*`` blocks, ``# ``
  comments, ``:DRAWER:`` ... ``:END:``, ``CLOCK:`` lines. Others are matched anywhere in a line:
  the agenda's log view collects ``CLOCK:``, ``CLOSED:`` and ``- State "..."`` wherever they appear.
* **orgparse** (our reader for hand-edit detection and imports): ``load`` opens files with
  universal newlines (``\r`` and ``\r\n`` end lines), ``loads`` uses ``str.splitlines`` (which also
  ends lines at VT, FF, FS, GS, RS, NEL, U+2028 and U+2029); its clock and state-log parsers search
  a whole line (``.*CLOCK:\s+\[`` and ``\s*-\s+State\s+"...``), and a line starting with ``#+`` is an
  in-buffer setting wherever it is.

The body encoding
-----------------
The text is split on ``"\n"`` only (never ``splitlines``), and every text line becomes exactly one
file line:

* an empty text line is written as an empty file line;
* a *plain* text line ``L`` is written as ``INDENT + L`` (two spaces, then ``L`` byte for byte:
  leading whitespace and backslashes are kept, so code reads naturally);
* any other line is written as ``INDENT + "," + esc(L)`` -- one marker, the leading comma, like
  org's own comma escape in blocks.

``""`` is encoded as ``[]`` (an entry without body lines); a text ending in ``"\n"`` ends with an
empty file line. Decoding joins the decoded lines with ``"\n"``, so ``decode_body(encode_body(t))
== t`` for every ``str`` -- lone surrogates included, they are escaped like control characters.

``L`` is *plain* unless one of these holds:

(a) ``L`` holds a character of :data:`SPECIAL`: the C0 controls except TAB (NUL makes Emacs treat
    the file as binary; CR makes Emacs guess a DOS/Mac end-of-line and universal newlines split the
    line; ESC makes Emacs guess ISO-2022; VT, FF, FS, GS, RS end lines for ``splitlines``; FF also
    delimits the page Emacs searches for local variables), DEL, the C1 controls U+0080-U+009F (NEL
    ends lines for ``splitlines``), U+2028, U+2029 (line/paragraph separators) and the surrogates
    U+D800-U+DFFF (which cannot be written as UTF-8 at all).
(b) ``L`` starts, after optional whitespace and ignoring case, with a construct org recognises on
    indented lines: ``#+`` (keywords, in-buffer settings, blocks, babel calls), ``#`` followed by
    whitespace or the end of the line (comments), ``:something:`` (drawers, ``:END:``, node
    properties), ``*`` (a heading once the indent is lost; kept conservative), ``CLOCK:``,
    ``CLOSED:``, ``SCHEDULED:``, ``DEADLINE:`` (clock and planning lines), ``- State``
    (state-change notes) or ``%%`` / ``&%%`` (diary sexps, evaluated by the agenda; they need
    column 0, escaped for the same reason as ``*``).
(c) ``L`` starts with ``,`` -- so that the marker is unambiguous.
(d) ``L`` holds a token some consumer finds anywhere in a line: ``Local Variables:`` (any case;
    Emacs), ``CLOCK:`` or ``CLOSED:`` (agenda log view, orgparse) or a ``-`` followed by
    whitespace, ``State``, whitespace and ``"`` (agenda log view, orgparse). The comma is not
    enough for these: ``esc`` also puts the invisible :data:`BREAK_MARK` (U+2060 WORD JOINER, a
    zero-width character) inside the token -- before the colon (``CLOSED⁠:``), after the dash
    (``-⁠ State``) -- which breaks it for every consumer while Emacs still shows the text as sent.

Leading whitespace alone does not make a line special: ``INDENT`` already keeps every body line off
column 0, where headings (``* ``), footnote definitions and diary sexps live.

``esc(L)`` replaces ``\`` with ``\\``, every :data:`SPECIAL` character and every
:data:`BREAK_MARK` the text itself holds with ``\xHH`` (code points below U+0100) or ``\uHHHH``
(all others: every escaped character is in the BMP), lowercase hex, and puts a :data:`BREAK_MARK`
inside every token of (d). Nothing else is escaped, so an escaped line reads as the text (the leading
comma aside, which is how org itself escapes a line). Its output cannot contain a SPECIAL character,
starts with ``,`` (so (b) cannot apply to the file line) and contains none of the tokens of (d):
the escape sequences are made of ``\``, ``x``, ``u`` and lowercase hex digits, and a mark sits
inside every token. Every :data:`BREAK_MARK` in an escaped line is one the encoder put there, so the
decoder drops them all before it reads the escapes.

Not neutralised, on purpose: active timestamps (``<2026-03-12 Thu>`` in a body shows in the
agenda, as org intends), links (following one is the reader's act, and org asks before ``elisp:`` or
``shell:`` links), bidi controls such as U+202E (they change how a line looks, not what it is), and
trailing whitespace (kept verbatim; an editor that trims it changes the text).

In the file an escaped line is an ordinary paragraph line for org-mode (verified with Emacs 28.2 /
Org 9.5.5 and with orgparse): nothing in org gives a meaning to a line starting with a comma
outside blocks, and the escaped text never opens a block.

Decoding is strict: a file line must be empty, or ``INDENT`` followed by a plain line, or
``INDENT + ","`` followed by valid escapes (only ``\\``, ``\xHH``, ``\uHHHH``, lowercase) and
marks exactly where the encoder puts them, and must
be exactly what the encoder writes for the decoded line (so ``"  ,abc"``, ``"  "`` and
``"  ,\x41"`` are rejected). Anything else raises :class:`~datacore_msg.errors.InvalidInput`
naming the line: it was edited by hand or written by something else. The only non-canonical input
accepted is ``[""]`` (an empty line alone), which decodes to ``""`` like ``[]``.

Titles and property values
--------------------------
:func:`safe_title` makes a one-line heading title from arbitrary text: the first line that is not
blank after normalising, with SPECIAL characters and TAB turned into spaces and whitespace
collapsed; leading ``*``, ``#``, ``,`` dropped; a leading TODO keyword (or ``COMMENT``) lowercased
(org-mode and orgparse match keywords case-sensitively and only as the first word); a leading
priority cookie ``[#X]`` written ``[X]`` (org-mode takes *any* character as a priority, ``[#a]``
too); trailing colons dropped, so no suffix can be read as tags -- org-mode wants ``␣:tag:`` at
the end of the heading, and orgparse even takes a bare ``word:tag:``; every token of rule (d)
broken exactly as in a body line (``CLOSED⁠: [..]``, ``Local Variables⁠:``, ``-⁠ State "..."``,
each with an invisible :data:`BREAK_MARK`: the heading line is searched too -- the agenda's log
view lists a heading ``* WAITING CLOSED: [2026-01-01 Thu 10:00] x`` as closed that day, and
Emacs's scanner finds ``Local Variables:`` on any line); then cut to ``limit`` characters, the
last being ``…``. Text with nothing left gives ``"(untitled)"`` (whatever the limit). Verified
with Emacs 28.2: ``subject :tag`` has no tags, ``todo x`` no keyword, ``[A] x`` no priority,
``comment x`` is not commented, after ``* `` and after ``* TODO `` alike.

:func:`is_safe_property_value` accepts the validated names and ids we write in property drawers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from datacore_msg.errors import InvalidInput
from datacore_msg.records import TYPE_CHECKING
from datacore_msg.task_states import ARCHIVED, CANCELLED, DONE, QUEUED, WAITING, WORKING

if TYPE_CHECKING:
    from typing import Final

__all__ = [
    "BREAK_MARK",
    "DONE_KEYWORDS",
    "ESCAPE_MARK",
    "INDENT",
    "SPECIAL",
    "TITLE_KEYWORDS",
    "TODO_KEYWORDS",
    "UNTITLED",
    "break_tokens",
    "decode_body",
    "encode_body",
    "is_safe_property_value",
    "safe_title",
]

INDENT: Final = "  "
"""The indent of every non-empty body line."""

ESCAPE_MARK: Final = ","
"""The character after :data:`INDENT` that marks an escaped line."""

BREAK_MARK: Final = "\u2060"
"""The zero-width character (WORD JOINER) put inside a token of rule (d) to break it: Emacs shows
the line as the text (the mark has no width), no consumer finds the token, and the decoder drops it.
The text's own U+2060 characters are escaped (``\u2060``) in escaped lines."""

#: The surrogates in a class of their own: in one class with the rest the compiled set spans
#: U+0000-U+DFFF, which costs every command that renders a view milliseconds to compile.
_SPECIAL_CLASS: Final = r"(?:[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]|[\ud800-\udfff])"

SPECIAL: Final[frozenset[str]] = frozenset(
    [chr(c) for c in range(0x00, 0x20) if c != 0x09]
    + [chr(c) for c in range(0x7F, 0xA0)]
    + ["\u2028", "\u2029"]
    + [chr(c) for c in range(0xD800, 0xE000)]
)
"""Characters never written literally: C0 controls but TAB, DEL, C1 controls, U+2028, U+2029 and
the surrogates."""

TODO_KEYWORDS: Final[tuple[str, ...]] = ("TODO", WAITING, QUEUED, WORKING)
"""The not-done keywords the view files declare (``#+TODO:`` before the bar): a message's ``TODO``,
and the task states shown live (a ``REQUESTED`` task is shown ``WAITING``)."""

DONE_KEYWORDS: Final[tuple[str, ...]] = (DONE, CANCELLED, ARCHIVED)
"""The done keywords the view files declare (``#+TODO:`` after the bar)."""

TITLE_KEYWORDS: Final[frozenset[str]] = frozenset({*TODO_KEYWORDS, *DONE_KEYWORDS, "COMMENT"})
"""Words org-mode reads as a keyword (or the COMMENT marker) at the start of a heading title."""

UNTITLED: Final = "(untitled)"

_SPECIAL_RE: Final = re.compile(_SPECIAL_CLASS)
_END_RE: Final = re.compile(":end:", re.IGNORECASE)

# Rule (b): constructs org-mode recognises at the start of an indented line (case-insensitive).
# Python's Unicode ``\s`` is wider than org's ``[ \t]`` and matches orgparse's own ``\s``.
_LINE_START_RE: Final = re.compile(
    r"""
    \s*
    (?:
        \#\+                                    # keywords, settings, blocks, babel calls
      | \#(?:\s|$)                              # comment lines
      | :\S*:                                   # drawers, :END:, node properties
      | \*                                      # headings, should the indent ever be lost
      | (?:CLOCK|CLOSED|SCHEDULED|DEADLINE):    # clock and planning lines
      | -\s+State\b                             # state-change notes
      | &?%%                                    # diary sexps
    )
    """,
    re.IGNORECASE | re.VERBOSE,
)

# Rule (d): tokens found anywhere in a line. Group ``brk`` is the character written as an escape.
# Emacs folds case for "Local Variables:" (ASCII letters only); the agenda (case-fold-search nil)
# and orgparse match CLOCK:, CLOSED: and State case-sensitively.
_TOKEN_RE: Final = re.compile(
    r"(?:(?i:local variables)|CLOCK|CLOSED)(?P<brk>:)|(?P<dash>-)(?=\s+State\s+\")",
)

# What esc() rewrites: a backslash, a SPECIAL character, the text's own BREAK_MARK, or a token of
# rule (d).
_ESC_RE: Final = re.compile(r"\\|" + _SPECIAL_CLASS + "|" + BREAK_MARK + "|" + _TOKEN_RE.pattern)

_UNESC_RE: Final = re.compile(r"\\(\\|x[0-9a-f]{2}|u[0-9a-f]{4})?")


def _hex_escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _esc_replacement(match: re.Match[str]) -> str:
    text = match.group(0)
    if text == "\\":
        return "\\\\"
    if match.group("brk") is not None:
        return text[:-1] + BREAK_MARK + ":"
    if match.group("dash") is not None:
        return "-" + BREAK_MARK
    return _hex_escape(text)


def _is_plain(line: str) -> bool:
    return not (
        line.startswith(ESCAPE_MARK)
        or _SPECIAL_RE.search(line)
        or _LINE_START_RE.match(line)
        or (("-" in line or ":" in line) and _TOKEN_RE.search(line) is not None)
    )


def _encode_line(line: str) -> str:
    if not line:
        return ""
    if _is_plain(line):
        return INDENT + line
    return INDENT + ESCAPE_MARK + _ESC_RE.sub(_esc_replacement, line)


def encode_body(text: str) -> list[str]:
    """The file lines (without line ends) that represent ``text`` as an org entry's body.

    ``text`` is split on ``"\\n"`` only; ``""`` gives ``[]``. See the module docstring for the rules.
    """
    if not text:
        return []
    return [_encode_line(line) for line in text.split("\n")]


def _show(line: str) -> str:
    shown = repr(line)
    return shown if len(shown) <= 72 else shown[:69] + "..."


def _unescape(escaped: str, number: int, line: str) -> str:
    def replace(match: re.Match[str]) -> str:
        code = match.group(1)
        if code is None:
            raise InvalidInput(
                f"body line {number} has a malformed escape at column "
                f"{len(INDENT) + len(ESCAPE_MARK) + match.start() + 1} (only \\\\, \\xHH and \\uHHHH with "
                f"lowercase hex are valid): {_show(line)}"
            )
        return "\\" if code == "\\" else chr(int(code[1:], 16))

    return _UNESC_RE.sub(replace, escaped)


def _decode_line(line: str, number: int) -> str:
    if not line:
        return ""
    if not line.startswith(INDENT):
        raise InvalidInput(
            f"body line {number} is not empty and does not start with the two-space indent: {_show(line)}"
        )
    content = line[len(INDENT) :]
    if content.startswith(ESCAPE_MARK):
        decoded = _unescape(content[len(ESCAPE_MARK) :].replace(BREAK_MARK, ""), number, line)
    else:
        decoded = content
    if _encode_line(decoded) != line:
        raise InvalidInput(
            f"body line {number} is not as the encoder writes it (hand-edited?): {_show(line)} "
            f"should be {_show(_encode_line(decoded))}"
        )
    return decoded


def decode_body(lines: Sequence[str]) -> str:
    """The text that :func:`encode_body` turned into ``lines``: ``decode_body(encode_body(t)) == t``.

    Raises :class:`~datacore_msg.errors.InvalidInput` naming the first line (1-based) the encoder
    could not have written. ``[]`` and ``[""]`` both decode to ``""``.
    """
    return "\n".join(_decode_line(line, number) for number, line in enumerate(lines, 1))


def _title_from_line(raw: str) -> str:
    line = " ".join(_SPECIAL_RE.sub(" ", raw).replace("\t", " ").split())
    line = line.lstrip("*#, ")
    first, space, rest = line.partition(" ")
    if first in TITLE_KEYWORDS:
        line = first.lower() + space + rest
    if line.startswith("[#"):
        line = "[" + line[2:]
    return line.rstrip(": ")


def _first_title(text: str) -> str | None:
    for raw in text.split("\n"):
        title = _title_from_line(raw)
        if title:
            return title
    return None


def _cut(title: str, limit: int) -> str:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    return title[: limit - 1].rstrip() + "…" if len(title) > limit else title


def break_tokens(line: str) -> str:
    """``line`` with every token of rule (d) broken as a body line's escape breaks it (a
    :data:`BREAK_MARK` before the colon of ``CLOCK:``, ``CLOSED:``, ``Local Variables:``, after the
    dash of ``- State "``), so no consumer that searches whole lines finds one, while Emacs shows
    the line unchanged; nothing else changes."""
    if "-" not in line and ":" not in line:
        return line
    return _TOKEN_RE.sub(_esc_replacement, line)


def safe_title(text: str, limit: int = 60) -> str:
    """A one-line heading title from arbitrary ``text``, at most ``limit`` characters long (or
    ``"(untitled)"``, whatever the limit).

    The first line that is not blank once normalised (SPECIAL characters and TAB made spaces,
    whitespace collapsed, leading ``*``/``#``/``,`` dropped, a leading TODO keyword or ``COMMENT``
    lowercased, a leading ``[#X]`` written ``[X]``, trailing colons dropped, the tokens of rule (d)
    broken by :func:`break_tokens`), cut to ``limit - 1`` characters plus ``…`` when longer;
    ``"(untitled)"`` when no line has anything left.
    """
    title = _first_title(text)
    if title is None:
        _cut("", limit)  # the same ValueError for a bad limit
        return UNTITLED
    return _cut(break_tokens(title), limit)


def is_safe_property_value(value: str) -> bool:
    """Whether ``value`` can be written as a property value and read back unchanged.

    False for the empty string, for SPECIAL characters (newlines included), for leading or
    trailing whitespace (org-mode and orgparse strip it) and for ``:END:`` in any case (orgparse
    ends a property drawer at the first line containing it, org-mode at an ``:end:`` line).
    """
    return (
        bool(value)
        and value == value.strip()
        and _SPECIAL_RE.search(value) is None
        and ":end:" not in value.lower()
    )


def safe_line(text: str, limit: int = 120) -> str:
    """A one-line rendering of ``text`` for a property value or a LOGBOOK note: the line
    :func:`safe_title` picks and normalises, with every ``:END:`` (any case) broken by a space, so it
    cannot end a drawer, and the tokens of rule (d) broken by an invisible :data:`BREAK_MARK` as in
    a body line (Emacs shows them as typed)."""
    title = _first_title(text)
    line = UNTITLED if title is None else _cut(title, limit)
    line = _END_RE.sub(lambda match: match.group(0)[:1] + " " + match.group(0)[1:], line)
    return break_tokens(line)
