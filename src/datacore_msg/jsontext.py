"""JSON text read and written through the interpreter's C accelerator, without importing :mod:`json`.

Theory of operation
-------------------
Importing :mod:`json` imports :mod:`re` (and with it :mod:`enum`, :mod:`functools` and
:mod:`collections`) and compiles five patterns: about a tenth of a whole ``search`` or ``send``
process. Yet for the settings our commands use, :mod:`json` does its work in ``_json``, its C
accelerator: :func:`json.loads` calls the C scanner after skipping white space, and
:func:`json.dumps` (without ``indent``) calls the C encoder and joins its chunks. This module calls
the same two with the same settings and does the same skipping and joining, so a value read or
written here is exactly the value or text :mod:`json` gives (``tests/test_jsontext.py`` checks this
against :mod:`json` on generated values and texts).

Errors are left to :mod:`json` itself: the C scanner reports a malformed text through
``json.decoder.JSONDecodeError``, which it finds only when :mod:`json` is loaded. When it refuses a
text, :func:`loads` therefore hands the text to :func:`json.loads` with the same settings, which
raises :mod:`json`'s own error, message and position. Texts that :mod:`json` reads differently
from a plain UTF-8 string (bytes in UTF-16 or UTF-32, or starting with a byte order mark) go to
:mod:`json` too. Bad input costs the import; good input never does.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_WHITESPACE = " \t\n\r"
#: Leading bytes :func:`json.detect_encoding` reads as something else than UTF-8.
_NOT_PLAIN_UTF8 = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


class _Settings:
    """What :class:`json.JSONDecoder` gives the C scanner (its defaults, and the hooks asked for)."""

    strict = True
    parse_float = float
    parse_int = int

    def __init__(
        self,
        object_hook: Callable[[dict[str, Any]], Any] | None,
        object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None,
        parse_constant: Callable[[str], Any] | None,
    ) -> None:
        self.object_hook = object_hook
        self.object_pairs_hook = object_pairs_hook
        self.parse_constant = parse_constant or float


#: One scanner per set of hooks (a scanner holds its settings); bounded, as hooks may be made per call.
def _settings(*hooks: Any) -> Any:
    """:class:`_Settings` typed as what ``_json.make_scanner`` is declared to take (a scanner)."""
    return _Settings(*hooks)


_SCANNERS: dict[tuple[Any, Any, Any], Any] = {}
_MAX_SCANNERS = 16


def loads(
    text: str | bytes,
    *,
    object_hook: Callable[[dict[str, Any]], Any] | None = None,
    object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None,
    parse_constant: Callable[[str], Any] | None = None,
) -> Any:
    """:func:`json.loads` of ``text`` with these settings."""
    hooks = (object_hook, object_pairs_hook, parse_constant)
    if isinstance(text, bytes):
        if text.startswith(_NOT_PLAIN_UTF8) or b"\x00" in text[:2]:
            return _stdlib_loads(text, hooks)
        string = text.decode("utf-8", "surrogatepass")
    elif isinstance(text, str):
        if text.startswith("\ufeff"):
            return _stdlib_loads(text, hooks)
        string = text
    else:
        return _stdlib_loads(text, hooks)
    scan = _SCANNERS.get(hooks)
    if scan is None:
        if len(_SCANNERS) >= _MAX_SCANNERS:
            _SCANNERS.clear()
        scan = _SCANNERS[hooks] = _json.make_scanner(_settings(*hooks))
    start = len(string) - len(string.lstrip(_WHITESPACE))
    try:
        value, end = scan(string, start)
    except (StopIteration, SystemError):
        return _stdlib_loads(text, hooks)
    if end != len(string) and string[end:].strip(_WHITESPACE):
        return _stdlib_loads(text, hooks)
    return value


def _stdlib_loads(text: Any, hooks: tuple[Any, Any, Any]) -> Any:
    import json

    object_hook, object_pairs_hook, parse_constant = hooks
    return json.loads(
        text, object_hook=object_hook, object_pairs_hook=object_pairs_hook, parse_constant=parse_constant
    )


def _not_serializable(value: object) -> Any:
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


def dumps(
    value: Any,
    *,
    ensure_ascii: bool = True,
    sort_keys: bool = False,
    separators: tuple[str, str] = (", ", ": "),
    allow_nan: bool = True,
    default: Callable[[Any], Any] | None = None,
) -> str:
    """:func:`json.dumps` of ``value`` with these settings (no ``indent``)."""
    quote = _json.encode_basestring_ascii if ensure_ascii else _json.encode_basestring
    item_separator, key_separator = separators
    encode = _json.make_encoder(
        {},
        default or _not_serializable,
        quote,
        None,
        key_separator,
        item_separator,
        sort_keys,
        False,
        allow_nan,
    )
    return "".join(encode(value, 0))


def encoder(
    *,
    ensure_ascii: bool = True,
    sort_keys: bool = False,
    separators: tuple[str, str] = (", ", ": "),
    allow_nan: bool = True,
) -> Callable[[Any], str]:
    """:func:`dumps` with these settings, as one C encoder kept for every call (:func:`dumps`, like
    :func:`json.dumps`, builds one per call, a third of the cost of encoding a small value). It has
    no circular-reference check, which is what lets it be kept (the check's state would outlive a
    failed call): a value it cannot encode -- a cycle ends in ``RecursionError`` -- is encoded
    again by :func:`dumps`, which raises what :func:`json.dumps` raises."""
    quote = _json.encode_basestring_ascii if ensure_ascii else _json.encode_basestring
    item_separator, key_separator = separators
    kept = _json.make_encoder(
        None, _not_serializable, quote, None, key_separator, item_separator, sort_keys, False, allow_nan
    )
    settings: dict[str, Any] = {
        "ensure_ascii": ensure_ascii,
        "sort_keys": sort_keys,
        "separators": separators,
        "allow_nan": allow_nan,
    }

    def encode(value: Any) -> str:
        try:
            return "".join(kept(value, 0))
        except (ValueError, TypeError, RecursionError):
            return dumps(value, **settings)

    return encode


def load(handle: Any, **settings: Any) -> Any:
    """:func:`json.load`: :func:`loads` of the whole of ``handle``."""
    return loads(handle.read(), **settings)
