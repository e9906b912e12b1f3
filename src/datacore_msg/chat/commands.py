"""The chat window's input line, parsed into one command; pure (no Textual, no space).

Grammar (the old window's, REFERENCE.md)::

    @user text              a message to user
    @claude text            a task request to your own agent (@user-claude text: to user's agent)
    @user >ID text          a reply to message ID (a unique prefix is enough) in its thread
    /mine /todos /tasks /online /relay /clear /help /? /quit
    /context ID             the thread of message ID
    /status [online|busy|away|focusing]

An unknown ``/x`` is :class:`Help` naming it; anything else is :class:`Invalid` with one line
saying what was wrong. Names and ids are checked by the service when the command runs.
"""

from __future__ import annotations

from datacore_msg.records import TYPE_CHECKING, Record, set_field

if TYPE_CHECKING:
    from collections.abc import Sequence

STATUSES = ("online", "busy", "away", "focusing")
AGENT_SUFFIX = "-claude"


class Send(Record):
    __slots__ = ("text", "to")
    to: str
    text: str

    def __init__(self, to: str, text: str) -> None:
        set_field(self, "to", to)
        set_field(self, "text", text)


class TaskRequest(Record):
    """``to``: ``claude`` (your own agent) or ``user-claude``."""

    __slots__ = ("text", "to")
    to: str
    text: str

    def __init__(self, to: str, text: str) -> None:
        set_field(self, "to", to)
        set_field(self, "text", text)


class Reply(Record):
    __slots__ = ("ref", "text", "to")
    to: str
    ref: str
    text: str

    def __init__(self, to: str, ref: str, text: str) -> None:
        set_field(self, "to", to)
        set_field(self, "ref", ref)
        set_field(self, "text", text)


class View(Record):
    """A listing: ``mine``, ``todos``, ``tasks``, ``online``, ``relay``."""

    __slots__ = ("name",)
    name: str

    def __init__(self, name: str) -> None:
        set_field(self, "name", name)


class Context(Record):
    __slots__ = ("ref",)
    ref: str

    def __init__(self, ref: str) -> None:
        set_field(self, "ref", ref)


class Status(Record):
    """``status`` None: show the current one."""

    __slots__ = ("status",)
    status: str | None

    def __init__(self, status: str | None) -> None:
        set_field(self, "status", status)


class Clear(Record):
    __slots__ = ()


class Quit(Record):
    __slots__ = ()


class Help(Record):
    __slots__ = ("unknown",)
    #: The unknown command that brought the help up, if any.
    unknown: str | None

    def __init__(self, unknown: str | None = None) -> None:
        set_field(self, "unknown", unknown)


class Invalid(Record):
    __slots__ = ("message",)
    message: str

    def __init__(self, message: str) -> None:
        set_field(self, "message", message)


Command = Send | TaskRequest | Reply | View | Context | Status | Clear | Quit | Help | Invalid

VIEWS = ("mine", "todos", "tasks", "online", "relay")
#: The commands with what they do, for /help and completion.
SLASH_HELP: tuple[tuple[str, str], ...] = (
    ("/mine", "your unread messages"),
    ("/todos", "messages marked todo"),
    ("/tasks", "your agent's queue (a approve, x reject, c cancel)"),
    ("/context ID", "the thread of a message"),
    ("/online", "who is connected to the relay"),
    ("/status [online|busy|away|focusing]", "show or set your status"),
    ("/relay", "the relay's state and URL"),
    ("/clear", "clear the list (scroll up to see it again)"),
    ("/help, /?", "this help"),
    ("/quit", "leave (Ctrl-C too)"),
)
SLASH_WORDS = (
    "/mine",
    "/todos",
    "/tasks",
    "/context",
    "/online",
    "/status",
    "/relay",
    "/clear",
    "/help",
    "/quit",
)


def is_agent_name(name: str) -> bool:
    return name == "claude" or name.endswith(AGENT_SUFFIX)


def parse(line: str) -> Command | None:
    """The command typed in ``line``; None for a blank line (nothing to do)."""
    text = line.strip()
    if not text:
        return None
    if text.startswith("/"):
        return _slash(text)
    if text.startswith("@"):
        return _address(text)
    return Invalid("start with @user to send, or /help for the commands")


def _slash(text: str) -> Command:
    word, _, rest = text.partition(" ")
    if "\n" in word:
        word, _, more = word.partition("\n")
        rest = (more + " " + rest).strip()
    name = word[1:].lower()
    rest = rest.strip()
    if name in ("help", "?"):
        return Help()
    if name == "quit":
        return Quit()
    if name == "clear":
        return Clear()
    if name in VIEWS:
        return View(name) if not rest else Invalid(f"/{name} takes no argument")
    if name == "context":
        if not rest or len(rest.split()) != 1:
            return Invalid("/context needs one message id (a unique prefix is enough)")
        return Context(rest)
    if name == "status":
        if not rest:
            return Status(None)
        if rest.lower() not in STATUSES:
            return Invalid(f"/status: {rest!r} is not one of {', '.join(STATUSES)}")
        return Status(rest.lower())
    return Help(unknown=word)


def _address(text: str) -> Command:
    head, _, rest = _split_word(text)
    to = head[1:]
    if not to:
        return Invalid("@ needs a name: @user text")
    if rest.startswith(">"):
        ref, _, body = _split_word(rest[1:])
        if not ref:
            return Invalid(f"@{to} >ID text: the message id is missing")
        if not body:
            return Invalid(f"@{to} >{ref}: nothing to send")
        if is_agent_name(to):
            return Invalid("a task request to an agent cannot reply to a message")
        return Reply(to, ref, body)
    if not rest:
        return Invalid(f"@{to}: nothing to send")
    return TaskRequest(to, rest) if is_agent_name(to) else Send(to, rest)


def _split_word(text: str) -> tuple[str, str, str]:
    """The first word (up to a space or a new line) and the rest, stripped of the blank between."""
    for index, char in enumerate(text):
        if char.isspace():
            return text[:index], char, text[index:].strip()
    return text, "", ""


def complete(word: str, names: Sequence[str], ids: Sequence[str]) -> str | None:
    """``word`` (the word before the cursor) completed: ``@`` a name, ``>`` an id, ``/`` a command;
    the whole word and a space when one candidate is left, else the longest common prefix when it
    adds something; None when nothing does."""
    if word.startswith("@"):
        pool: Sequence[str] = [f"@{name}" for name in names]
    elif word.startswith(">"):
        pool = [f">{ref}" for ref in ids]
    elif word.startswith("/"):
        pool = SLASH_WORDS
    else:
        return None
    matches = sorted({candidate for candidate in pool if candidate.startswith(word)})
    if len(matches) == 1:
        return matches[0] + " "
    common = _common_prefix(matches)
    return common if len(common) > len(word) else None


def _common_prefix(words: Sequence[str]) -> str:
    if not words:
        return ""
    first, last = min(words), max(words)
    size = 0
    while size < min(len(first), len(last)) and first[size] == last[size]:
        size += 1
    return first[:size]
