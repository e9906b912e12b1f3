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

import re

#: C0 controls but TAB and LF, DEL, C1 controls, the bidi marks, embeddings, overrides and isolates
#: (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), U+2028, U+2029 ...
_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
#: ... and lone surrogates, a class of their own: in one class with the rest they make the
#: compiled set span U+0000-U+DFFF, which costs a command several milliseconds to compile.
_SURROGATES = "[\ud800-\udfff]"
_UNSAFE = re.compile(f"[{_CONTROLS}]|{_SURROGATES}")
#: The same, and TAB and LF: for a value shown on one line.
_UNSAFE_FIELD = re.compile(f"[\t\n{_CONTROLS}]|{_SURROGATES}")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def printable(text: str) -> str:
    """``text`` with every character that could drive a terminal written as ``\\uXXXX`` (TAB and
    LF are kept: use it on a line of a multi-line text, or on a whole text meant to keep its lines)."""
    return _UNSAFE.sub(_escape, text)


def field(value: object) -> str:
    """``value`` as text for one line of human output: :func:`printable`, with TAB and LF escaped
    too, so a value from an event can neither drive the terminal nor forge a line of its own."""
    return _UNSAFE_FIELD.sub(_escape, str(value))


def json_text(text: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)`` or the canonical encoding) with what
    it keeps raw but a terminal acts on written as ``\\uXXXX`` escapes: the same JSON value. Raw
    C0 controls cannot occur in JSON text, so TAB and LF between tokens are kept as they are."""
    return _UNSAFE.sub(_escape, text)
