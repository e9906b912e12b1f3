"""The one module that prints. Human text, or ``--json`` in a versioned envelope.

JSON envelope: ``{"version": 1, "ok": true, "data": ...}`` or
``{"version": 1, "ok": false, "error": {"code": ..., "message": ...}}``.
Human output never carries a raw control character to the terminal: every field that comes from
an event (type, subject, names, texts, reasons) goes through :func:`field` (one line) or
:func:`printable` (a line of a multi-line text), which render C0 and C1 controls, ESC, DEL, the bidi
controls and the line/paragraph separators as visible escapes (``\\u001b``, ``\\u202e``); and
:func:`emit_text`, :func:`emit_note`, :func:`emit_warning` and :func:`emit_error` pass what they print
through :func:`printable` once more, so a field a formatter forgot still cannot clear the screen or
write the clipboard (OSC 52). JSON output carries the exact text, escaped by ``json.dumps``.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

JSON_VERSION = 1
#: C0 controls but TAB and LF, DEL, C1 controls, the bidi marks, embeddings, overrides and isolates
#: (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), U+2028, U+2029 and lone surrogates.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
#: The same, and TAB and LF: for a value shown on one line.
_UNSAFE_FIELD = re.compile(f"[\t\n{_UNSAFE.pattern[1:-1]}]")


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


def _json(envelope: dict[str, Any]) -> str:
    """``envelope`` as JSON: ``json.dumps`` escapes C0 controls; DEL, C1 controls, bidi controls,
    separators and lone surrogates, which it keeps raw with ``ensure_ascii=False``, are written as
    ``\\uXXXX`` escapes too (the same JSON value)."""
    return printable(json.dumps(envelope, ensure_ascii=False))


def envelope(ok: bool, body: dict[str, Any]) -> str:
    """The one place the ``--json`` envelope is built: version, ok, then ``data`` or ``error``."""
    return _json({"version": JSON_VERSION, "ok": ok, **body})


def emit_json(data: Any) -> None:
    _write(envelope(True, {"data": data}))


def emit_text(text: str) -> None:
    _write(printable(text))


def emit_note(text: str) -> None:
    """Progress and summaries that must not mix with data on standard output."""
    sys.stderr.write(f"{printable(text)}\n")


def emit_warning(text: str) -> None:
    sys.stderr.write(f"datacore-msg: warning: {printable(text)}\n")


def emit_error(code: str, message: str, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    if as_json:
        error: dict[str, Any] = {"code": code, "message": message}
        if extra:
            error.update(extra)
        _write(envelope(False, {"error": error}))
    else:
        one_line = " ".join(printable(message).splitlines())
        sys.stderr.write(f"datacore-msg: error: {one_line}\n")


def _write(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
