"""The one module that prints. Human text, or ``--json`` in a versioned envelope.

JSON envelope: ``{"version": 1, "ok": true, "data": ...}`` or
``{"version": 1, "ok": false, "error": {"code": ..., "message": ...}}``.
Human output never carries a raw control character to the terminal: every field that comes from
an event goes through :mod:`datacore_msg.terminal` (``field`` for one line, ``printable`` for a line
of a text), and :func:`emit_text`, :func:`emit_note`, :func:`emit_warning` and :func:`emit_error`
pass what they print through ``printable`` once more, so a field a formatter forgot still cannot
clear the screen or write the clipboard (OSC 52). JSON output carries the exact text, with what
``json.dumps`` keeps raw but a terminal acts on written as ``\\uXXXX`` (the same JSON value).
"""

from __future__ import annotations

import sys

from datacore_msg.jsontext import dumps
from datacore_msg.records import TYPE_CHECKING
from datacore_msg.terminal import json_text, printable

if TYPE_CHECKING:
    from typing import Any

JSON_VERSION = 1


def _json(envelope: dict[str, Any]) -> str:
    """``envelope`` as JSON: ``json.dumps`` escapes C0 controls; DEL, C1 controls, bidi controls,
    separators and lone surrogates, which it keeps raw with ``ensure_ascii=False``, are written as
    ``\\uXXXX`` escapes too (the same JSON value)."""
    return json_text(dumps(envelope, ensure_ascii=False))


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
