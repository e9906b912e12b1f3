"""What may reach a terminal: text from events written so that it cannot drive one.

An event's fields are anyone's words. Printed raw, C0 and C1 controls (ESC starts the sequences that
clear the screen or write the clipboard, OSC 52), DEL, the bidi marks, embeddings, overrides and
isolates, and the line and paragraph separators would act on the reader's terminal. Every such
character is written as a visible ``\\uXXXX``:

* :func:`printable` keeps TAB and LF (a line of a text, or a whole text meant to keep its lines);
* :func:`field` escapes them too (a value shown on one line cannot forge a line of its own);
* :func:`json_text` for JSON text, where C0 controls are escaped already and ``\\uXXXX`` inside a
  string is the same value: what the CLI's ``--json`` and ``export`` print stays the same JSON.

Standard library only (the CLI's output and the exchange's export both use it).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from re import Match, Pattern

#: C0 controls but TAB and LF, DEL, C1 controls, the bidi marks, embeddings, overrides and isolates
#: (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), U+2028, U+2029 ...
_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
#: ... and lone surrogates, a class of their own: in one class with the rest they make the
#: compiled set span U+0000-U+DFFF, which costs a command several milliseconds to compile.
_SURROGATES = "[\ud800-\udfff]"
#: Every character these patterns match is one :meth:`str.isprintable` refuses, so a text it
#: accepts is returned as it is, and the patterns are compiled (and :mod:`re` imported) only for a
#: text that holds something else than printable characters, TAB and LF.
_PATTERNS = {"printable": f"[{_CONTROLS}]|{_SURROGATES}", "field": f"[\t\n{_CONTROLS}]|{_SURROGATES}"}
_COMPILED: dict[str, Pattern[str]] = {}


def _escape(match: Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _sub(kind: str, text: str) -> str:
    pattern = _COMPILED.get(kind)
    if pattern is None:
        import re

        pattern = _COMPILED[kind] = re.compile(_PATTERNS[kind])
    return pattern.sub(_escape, text)


def printable(text: str) -> str:
    """``text`` with every character that could drive a terminal written as ``\\uXXXX`` (TAB and
    LF are kept: use it on a line of a multi-line text, or on a whole text meant to keep its lines)."""
    if text.isprintable() or text.replace("\n", "").replace("\t", "").isprintable():
        return text
    return _sub("printable", text)


def field(value: object) -> str:
    """``value`` as text for one line of human output: :func:`printable`, with TAB and LF escaped
    too, so a value from an event can neither drive the terminal nor forge a line of its own."""
    text = str(value)
    return text if text.isprintable() else _sub("field", text)


def json_text(text: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)`` or the canonical encoding) with what
    it keeps raw but a terminal acts on written as ``\\uXXXX`` escapes: the same JSON value. Raw
    C0 controls cannot occur in JSON text, so TAB and LF between tokens are kept as they are."""
    return printable(text)
