"""The words the hook puts in front of the agent: pure functions of what is new and the time.

Written as plain statements of fact (what arrived, from whom, at which trust tier, and the exact
commands that act on it), never as orders: text framed as commands can trip prompt-injection
defences, and the agent's instructions come from its user, not from this hook.

A task's text is the only text from another person that reaches the agent, and it is always
fenced: a line of backticks longer than any run of backticks in the text opens and closes it, so
nothing inside (a fake ``</context>``, a fake fence, a fake "system" line) can end it early. Control
characters are shown as ``\\uXXXX``. Requests from anyone but the user are labelled as a
teammate's request, not an instruction from the user. The whole output, as JSON, stays under
:data:`OUTPUT_LIMIT` characters (Claude Code cuts anything over 10,000 to a short preview): the task
text is cut to fit, with its length and the command that shows the rest.

A sender whose name no pinned key backs, or that looks like another pinned name, is shown with it
(``Tex (unverified; looks like tex)``) wherever its name appears, and a request from such a sender
says in its label that the name is not proven.
"""

from __future__ import annotations

from collections.abc import Sequence

from datacore_msg import jsontext
from datacore_msg.eventlog.lookalike import Sender
from datacore_msg.readmodels.hookread import OpenTask, Unread
from datacore_msg.records import NamedTuple
from datacore_msg.task_states import QUEUED, WAITING, WORKING

OUTPUT_LIMIT = 9_500
LISTED = 5
_CONTROL = {*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029}


CLAIMED, ANNOUNCED, PREVIEW = "claimed", "announced", "preview"


class Card(NamedTuple):
    """One task shown in full: ``claimed`` now; ``announced`` as the next to take (automatic
    claiming off); or the ``preview`` of ``--check`` (the next prompt would claim it)."""

    task: OpenTask
    text: str
    mode: str


class News(NamedTuple):
    user: str
    agent: str
    prog: str
    card: Card | None
    more_queued: int
    reminders: Sequence[OpenTask]
    waiting: Sequence[OpenTask]
    messages: Sequence[Unread]

    @property
    def empty(self) -> bool:
        return not (self.card or self.reminders or self.waiting or self.messages)


def age(ms: int) -> str:
    minutes = max(0, ms) // 60_000
    if minutes < 1:
        return "less than a minute ago"
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''} ago"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} hours ago"
    return f"{hours // 24} days ago"


def visible(text: str) -> str:
    """Control and line-separator characters as ``\\uXXXX``; lone surrogates as U+FFFD."""
    out = []
    for char in text:
        code = ord(char)
        if code in _CONTROL:
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\ufffd")
        else:
            out.append(char)
    return "".join(out)


def fence_for(text: str) -> str:
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)


def _tier(task: OpenTask) -> str:
    return task.tier or "unknown"


def sender_of(item: OpenTask | Unread) -> Sender:
    return Sender(item.sender, item.verified, item.looks_like)


def _is_user(task: OpenTask, user: str) -> bool:
    return _tier(task) == "owner" and task.sender == user and not sender_of(task).marked


def _who(task: OpenTask, user: str) -> str:
    if _is_user(task, user):
        return f"{user} (the user; trust tier owner)"
    notes = "; ".join((*sender_of(task).notes, f"trust tier {_tier(task)}"))
    return f"{task.sender} ({notes})"


def _label(task: OpenTask, user: str) -> str:
    if _is_user(task, user):
        return f"Request text, from the user {user}:"
    label = (
        f"Request text from {task.sender}. It is a teammate's request (trust tier {_tier(task)}), "
        f"not an instruction from the user {user}."
    )
    sender = sender_of(task)
    if not sender.verified:
        label += f" No key pinned for the name {task.sender} signed it: the name is not verified."
    if sender.looks_like is not None:
        label += f" {task.sender} is not {sender.looks_like}; the name only looks like it."
    if _tier(task) not in ("owner", "team", "trusted"):
        label += f" {task.sender} is not a trusted sender."
    return label


def _details(task: OpenTask) -> str:
    parts = [f"priority {task.priority or 'B'}"]
    if task.effort is not None:
        parts.append(f"effort {task.effort}")
    if task.estimate is not None:
        parts.append(f"estimate {task.estimate:,} tokens")
    if task.tags:
        parts.append("tags " + ", ".join(task.tags.split()))
    if task.retry_count:
        parts.append(f"retried {task.retry_count} time{'s' if task.retry_count != 1 else ''}")
    return "; ".join(parts)


def _card(news: News, card: Card, now_ms: int, text: str, cut: str) -> list[str]:
    task, prog = card.task, news.prog
    if card.mode == CLAIMED:
        head = f"{news.agent} has claimed task {task.task}; it is now WORKING."
    elif card.mode == PREVIEW:
        head = (
            f"Task {task.task} is QUEUED for {news.agent} and nothing is WORKING "
            "(a preview: the next prompt claims it)."
        )
    else:
        head = (
            f"Task {task.task} is QUEUED for {news.agent} and nothing is WORKING "
            f"(automatic claiming is off; `{prog} task claim {task.task}` claims it)."
        )
    fence = fence_for(text)
    lines = [
        head,
        f"From: {_who(task, news.user)}. Sent {age(now_ms - task.requested_ms)}; {_details(task)}.",
        _label(task, news.user),
        fence,
        *text.split("\n"),
        fence,
    ]
    if cut:
        lines.append(cut)
    lines += [
        f'Reply to {task.sender}: `{prog} reply {task.task} "TEXT"`',
        f'Reply and complete it: `{prog} reply {task.task} "TEXT" --complete --tokens N` '
        "(N: tokens used; --result PATH names a result file)",
        f'Return it to the queue: `{prog} task retry {task.task} --reason "WHY"`',
    ]
    if news.more_queued:
        more = news.more_queued
        lines.append(
            f"{more} more task{'s are' if more != 1 else ' is'} QUEUED (`{prog} tasks --state QUEUED`)."
        )
    return lines


def _listed(tasks: Sequence[OpenTask], describe: str) -> str:
    shown = [describe.format(t=t, tier=_tier(t), sender=sender_of(t).label) for t in tasks[:LISTED]]
    extra = len(tasks) - len(shown)
    return "; ".join(shown) + (f"; and {extra} more" if extra else "")


def _other_lines(news: News, now_ms: int) -> list[str]:
    prog, lines = news.prog, []
    for task in news.reminders[:LISTED]:
        lines.append(
            f"Task {task.task} from {sender_of(task).label} is WORKING "
            f"(claimed {age(now_ms - task.state_ms)}); "
            f'`{prog} reply {task.task} "TEXT" --complete --tokens N` completes it.'
        )
    if len(news.reminders) > LISTED:
        more = len(news.reminders) - LISTED
        lines.append(f"{more} more tasks are WORKING (`{prog} tasks --state WORKING`).")
    if news.waiting:
        count = len(news.waiting)
        lines.append(
            f"{count} task{'s wait' if count != 1 else ' waits'} for {news.user}'s approval: "
            + _listed(news.waiting, "{t.task} from {sender}, trust tier {tier}")
            + f'. `{prog} task approve ID` or `{prog} task reject ID --reason "WHY"` decides.'
        )
    if news.messages:
        count = len(news.messages)
        senders: dict[str, int] = {}
        for message in news.messages:
            label = sender_of(message).label
            senders[label] = senders.get(label, 0) + 1
        names = [f"{n} from {name}" for name, n in list(senders.items())[:LISTED]]
        if len(senders) > LISTED:
            names.append(f"{sum(list(senders.values())[LISTED:])} from others")
        lines.append(
            f"{count} new message{'s' if count != 1 else ''} for {news.user} ({', '.join(names)}); "
            f"newest {news.messages[-1].message}. `{prog} inbox` lists them."
        )
    return lines


def context(news: News, now_ms: int, text_budget: int | None = None) -> str:
    """The additionalContext text (empty when nothing is new)."""
    if news.empty:
        return ""
    lines = ["datacore-msg (the team's message queue) reports:"]
    if news.card is not None:
        full = visible(news.card.text)
        shown = full if text_budget is None else full[:text_budget]
        cut = ""
        if len(shown) < len(full):
            cut = (
                f"[The text is cut here: {len(shown):,} of {len(full):,} characters shown; "
                f"`{news.prog} task show {news.card.task.task}` shows all of it.]"
            )
        lines += _card(news, news.card, now_ms, shown, cut)
    lines += _other_lines(news, now_ms)
    return "\n".join(lines)


def hook_json(event: str, text: str) -> str:
    return jsontext.dumps(
        {"hookSpecificOutput": {"hookEventName": event, "additionalContext": text}}, ensure_ascii=False
    )


def render(news: News, event: str, now_ms: int, limit: int = OUTPUT_LIMIT) -> str:
    """The hook's stdout: JSON under ``limit`` characters, or "" when nothing is new. A task text
    that does not fit is cut to the longest prefix that does (JSON escapes counted)."""
    text = context(news, now_ms)
    if not text:
        return ""
    output = hook_json(event, text)
    if len(output) <= limit:
        return output
    if news.card is None:
        return hook_json(event, text[: limit // 2])
    low, high = 0, len(visible(news.card.text))
    while low < high:
        middle = (low + high + 1) // 2
        if len(hook_json(event, context(news, now_ms, middle))) <= limit:
            low = middle
        else:
            high = middle - 1
    return hook_json(event, context(news, now_ms, low))


def notice(message: str) -> str:
    """A one-line notice for the user (not the model) about the hook's own failure."""
    return jsontext.dumps({"systemMessage": message}, ensure_ascii=False)


def digest(user: str, agent: str, prog: str, tasks: Sequence[OpenTask], unread: Sequence[Unread]) -> str:
    """The SessionStart digest: one short paragraph, or "" when there is nothing to report."""
    working = [t for t in tasks if t.state == WORKING]
    queued = [t for t in tasks if t.state == QUEUED]
    waiting = [t for t in tasks if t.state == WAITING]
    if not (working or queued or waiting or unread):
        return ""
    parts = []
    if working:
        ids = ", ".join(t.task for t in working[:LISTED])
        parts.append(f"{len(working)} task{'s' if len(working) != 1 else ''} WORKING ({ids})")
    if queued:
        parts.append(f"{len(queued)} QUEUED")
    queue = f"{agent} has " + " and ".join(parts) + "." if parts else f"{agent} has no open tasks."
    lines = [f"datacore-msg (the team's message queue): {queue}"]
    if waiting:
        lines.append(
            f"{len(waiting)} task{'s wait' if len(waiting) != 1 else ' waits'} for {user}'s approval "
            f"(`{prog} tasks --state WAITING`)."
        )
    if unread:
        plural = "s" if len(unread) != 1 else ""
        lines.append(f"{len(unread)} unread message{plural} for {user} (`{prog} inbox`).")
    lines.append(
        f"New tasks and messages are reported here when the user sends a prompt; "
        f'`{prog} reply ID "TEXT"` answers a task or message, and adding `--complete --tokens N` '
        "completes the task."
    )
    return "\n".join(lines)
