"""The one module that prints. Human text, or ``--json`` in a versioned envelope.

JSON envelope: ``{"version": 1, "ok": true, "data": ...}`` or
``{"version": 1, "ok": false, "error": {"code": ..., "message": ...}}``.
Human output escapes control and bidi characters from message text so a message cannot drive the
terminal; JSON output carries the exact text.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

JSON_VERSION = 1
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def envelope(ok: bool, body: dict[str, Any]) -> str:
    """The one place the ``--json`` envelope is built: version, ok, then ``data`` or ``error``."""
    return json.dumps({"version": JSON_VERSION, "ok": ok, **body}, ensure_ascii=False)


def emit_json(data: Any) -> None:
    _write(envelope(True, {"data": data}))


def emit_text(text: str) -> None:
    _write(text)


def emit_note(text: str) -> None:
    """Progress and summaries that must not mix with data on standard output."""
    sys.stderr.write(f"{text}\n")


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
