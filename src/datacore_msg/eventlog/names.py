"""Validation of the names and ids that appear in events and, from there, in org property values."""

from __future__ import annotations

from datacore_msg.errors import InvalidInput
from datacore_msg.records import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable
    from re import Pattern

#: What each name's checker accepts, as a regular expression (compiled on first use, as
#: ``names.ACTOR_RE`` and so on: the checkers below test the same thing without :mod:`re`, whose
#: import and compiling cost a whole-process command more than the checks of a thousand events).
#: Tag characters every org reader accepts (Emacs also takes ``#%``, orgparse does not), so a tag
#: goes into a heading as it is.
PATTERNS = {
    "ACTOR_RE": r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}",
    "MESSAGE_ID_RE": r"msg-\d{8}-\d{6}-[0-9a-f]{8}",
    "TASK_ID_RE": r"task-\d{8}-\d{6}-[0-9a-f]{8}",
    "TAG_RE": r"[A-Za-z0-9_@]{1,32}",
}
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_ACTOR_REST = _ALNUM | frozenset("._@+-")
_TAG_CHARS = _ALNUM | frozenset("_@")
_LOWER_HEX = frozenset("0123456789abcdef")


def __getattr__(name: str) -> Pattern[str]:
    if name not in PATTERNS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import re

    pattern = globals()[name] = re.compile(PATTERNS[name])
    return pattern


AGENT_SUFFIX = "-claude"
MAX_TAGS = 8
PRIORITIES = ("A", "B", "C")
MAX_TEXT_BYTES = 64 * 1024


#: A refused value is shown in an error cut to this many characters: a hostile 64 KiB value, or a
#: number too long to print, must not flood the one line an error is.
MAX_SHOWN_CHARS = 80


def shown(value: object) -> str:
    """``repr(value)`` for an error message, cut to :data:`MAX_SHOWN_CHARS` characters."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"a number of {value.bit_length()} bits"
    if isinstance(value, str) and len(value) > MAX_SHOWN_CHARS:
        value = value[:MAX_SHOWN_CHARS]  # no repr of 64 KiB to cut down
    try:
        text = repr(value)
    except Exception:  # a value built in Python may have any repr
        return f"a {type(value).__name__}"
    return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 1] + "…"


#: An error names at most this many unknown keys, each cut to :data:`MAX_KEY_CHARS` characters.
MAX_KEYS_SHOWN = 5
MAX_KEY_CHARS = 40


def key_name(key: object) -> str:
    """A key as an error names it: text cut to :data:`MAX_KEY_CHARS` (quoted when it holds a line
    break or another control character); any other key (only a dict built in Python has one) by its
    type, as printing it may fail (a number of 5,000 digits)."""
    if type(key) is not str:
        return f"<{type(key).__name__}>"
    cut = key[:MAX_KEY_CHARS]
    return cut if cut.isprintable() else repr(cut)


def key_names(keys: Iterable[object]) -> str:
    """Unknown keys as an error lists them: named by :func:`key_name`, sorted, at most
    :data:`MAX_KEYS_SHOWN` of them."""
    names = sorted(key_name(key) for key in keys)
    return ", ".join(names[:MAX_KEYS_SHOWN]) + (", …" if len(names) > MAX_KEYS_SHOWN else "")


def is_actor(name: object) -> bool:
    return (
        isinstance(name, str) and 0 < len(name) <= 64 and name[0] in _ALNUM and _ACTOR_REST.issuperset(name)
    )


def check_actor(name: str, what: str = "name") -> str:
    if not is_actor(name):
        raise InvalidInput(
            f"{what} {name!r} is not a valid name: use letters, digits and . _ @ + - "
            "(at most 64, starting with a letter or digit)"
        )
    return name


#: The longest id reference (a full id or a prefix) a command looks up; ids are 28-29 characters.
MAX_ID_REF = 64


def check_id_ref(ref: str, what: str) -> str:
    """``ref`` stripped; a one-line error when it is empty or longer than any id."""
    ref = ref.strip()
    if not ref:
        raise InvalidInput(f"{what} is empty")
    if len(ref) > MAX_ID_REF:
        raise InvalidInput(
            f"{what} is {len(ref)} characters long: an id or its prefix has at most {MAX_ID_REF}"
        )
    return ref


def _is_stamped_id(value: object, prefix: str) -> bool:
    """``PREFIX-DDDDDDDD-DDDDDD-hhhhhhhh``: decimal digits (``\\d``, any script's) and lowercase hex."""
    if not isinstance(value, str) or len(value) != len(prefix) + 24 or not value.startswith(prefix):
        return False
    rest = value[len(prefix) :]
    return (
        rest[8] == rest[15] == "-"
        and rest[:8].isdecimal()
        and rest[9:15].isdecimal()
        and _LOWER_HEX.issuperset(rest[16:])
    )


def is_message_id(value: object) -> bool:
    return _is_stamped_id(value, "msg-")


def is_task_id(value: object) -> bool:
    return _is_stamped_id(value, "task-")


def is_tag(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 32 and _TAG_CHARS.issuperset(value)


def is_agent(name: str) -> bool:
    """``gregor-claude`` is the agent of ``gregor``."""
    return name.endswith(AGENT_SUFFIX) and is_actor(name[: -len(AGENT_SUFFIX)])


def agent_of(user: str) -> str:
    return user + AGENT_SUFFIX


def owner_of(agent: str) -> str:
    return agent[: -len(AGENT_SUFFIX)]


def text_problem(text: object) -> str | None:
    """Why ``text`` cannot be a message text, or None when it can."""
    if not isinstance(text, str):
        return "must be a string"
    if not text.strip():
        return "is empty"
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    if size > MAX_TEXT_BYTES:
        return f"is {size} bytes, over the limit of {MAX_TEXT_BYTES} bytes"
    return None


def check_text(text: str, what: str = "text") -> str:
    problem = text_problem(text)
    if problem is not None:
        raise InvalidInput(f"{what} {problem}")
    return text
