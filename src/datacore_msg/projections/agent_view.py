"""The agent view renderer: task state -> entry text of ``agents/<user>-claude.org``. Pure.

Theory of operation
-------------------
One entry per task, in the order of the ``task.requested`` events. The heading carries the state
keyword, the priority cookie, a short *safe title* made from the task text
(:func:`~datacore_msg.projections.orgtext.safe_title`: one line, no structure) and the request's tags
(validated tag characters); the full text goes into the body through
:func:`~datacore_msg.projections.orgtext.encode_body`. Property values are validated names, ids,
numbers, timestamps, or one-line renderings of the reasons people typed
(:func:`~datacore_msg.projections.orgtext.safe_line`; the exact text is in the log and in
``task show``). The ``:LOGBOOK:`` lists every change with its time, actor and reason, and every
superseded action with why it did not count.

A request whose sender's name no pinned key backs, or looks like another pinned name, says so at the
front of its heading (``From Tex (unverified; looks like tex): ...``), with the tags ``unverified`` /
``lookalike`` and the ``VERIFIED`` and ``LOOKS_LIKE`` properties, as in the message views
(:func:`~datacore_msg.projections.render.sender_properties`).

CANCELLED and ARCHIVED tasks are closed: they move to
``archive/agents-<user>-claude-<YYYY-MM>.org_archive`` (the month they closed, in the user's zone), so
the live view holds the tasks in play.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import tzinfo

from datacore_msg.eventlog.lookalike import Sender
from datacore_msg.projections.orgtext import encode_body, safe_line, safe_title
from datacore_msg.projections.render import sender_properties, sender_tag_names
from datacore_msg.projections.tasks import Change, TaskState
from datacore_msg.projections.timefmt import month_of, org_inactive, org_inactive_ms
from datacore_msg.readmodels.entry import Entry
from datacore_msg.task_states import FINAL, REQUESTED, WAITING

ROLE = "agent"
#: Dollars per 1,000 tokens, as a string: :func:`cost_of` counts in whole 10**-8 dollars, so
#: rendering a view needs no :mod:`decimal` (importing it costs more than rendering the tasks).
COST_PER_1K_TOKENS = "0.015"
_COST_PER_TOKEN_IN_1E8_DOLLARS = 1_500
_KEYWORDS = {REQUESTED: WAITING}


def keyword_of(state: str) -> str:
    """The keyword a task in ``state`` shows in the agent view (an undecided task shows ``WAITING``)."""
    return _KEYWORDS.get(state, state)


def agent_file(agent: str) -> str:
    return f"agents/{agent}.org"


def cost_of(tokens: int) -> str:
    """The estimated cost of ``tokens`` in dollars, rounded half up to the cent ("0.02")."""
    scaled = abs(tokens) * _COST_PER_TOKEN_IN_1E8_DOLLARS  # dollars * 10**8
    cents = (scaled + 500_000) // 1_000_000  # half up (away from zero), as decimal.ROUND_HALF_UP
    sign = "-" if tokens < 0 else ""
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def file_for(state: TaskState, tz: tzinfo) -> str:
    if state.state in FINAL and state.closed_hlc is not None:
        return f"archive/agents-{state.agent}-{month_of(state.closed_hlc, tz)}.org_archive"
    return agent_file(state.agent)


def _property(name: str, value: str) -> str:
    return f"  {f':{name}:':<10} {value}\n"


def _logbook_line(change: Change, tz: tzinfo) -> str:
    when = org_inactive(change.hlc, tz)
    if change.superseded is None:
        after, before = f'"{change.after}"', f'"{change.before}"'
        head = f"  - State {after:<12} from {before:<12} {when} \\\\\n"
        note = change.note
    else:
        head = f"  - Superseded {change.action} by {change.actor} {when} \\\\\n"
        note = change.superseded
    detail = change.actor if change.superseded is not None else f"{change.actor} ({change.action})"
    if note is not None:
        detail += ": " + safe_line(note, 160)
    return head + f"    {detail}\n"


def _heading_tags(request_tags: tuple[str, ...], sender: Sender | None) -> str:
    unique = list(dict.fromkeys((*request_tags, *sender_tag_names(sender))))
    return f" :{':'.join(unique)}:" if unique else ""


#: Names an imported drawer may not take as they are: they say who sent a task, how far it is trusted
#: or what the governor decided, which imported history never does (shown as ``OLD_<NAME>``).
_RESERVED = frozenset(
    {
        "ID",
        "FROM",
        "VERIFIED",
        "LOOKS_LIKE",
        "TRUST_TIER",
        "AWAITING",
        "APPROVAL",
        "IMPORTED",
        "SUBMITTED",
        "CREATED",
    }
)


def _imported_properties(state: TaskState, taken: set[str]) -> list[tuple[str, str]]:
    """``IMPORTED`` (the old id), then the old drawer's properties as the old file had them (one
    line each); a name this view writes itself, or one that speaks for trust, gets ``OLD_``."""
    if state.imported is None:
        return []
    out = [("IMPORTED", state.imported.original)]
    for name, value in state.imported.properties.items():
        shown = f"OLD_{name}" if name in _RESERVED or name in taken else name
        out.append((shown, safe_line(value, 200)))
    return out


def _awaiting(state: TaskState, tz: tzinfo) -> list[tuple[str, str]]:
    """What an undecided (or deferred) or held task waits for."""
    if state.state == WAITING:
        return [("AWAITING", "owner-approval")]
    if state.state != REQUESTED:
        return []
    props = [("AWAITING", "governor")]
    until = state.deferred_until_ms
    if until is not None and state.deferral is not None:
        props.append(("DEFERRED_UNTIL", org_inactive_ms(until, tz, round_up=True)))
        props.append(("DEFERRED", safe_line(state.deferral.reason)))
    return props


def render_task(state: TaskState, tz: tzinfo, sender: Sender | None = None) -> str:
    """One task's entry; ``sender`` (what the trust book says of the requester) marks an unverified
    or lookalike sender (None: no mark)."""
    request = state.request
    keyword = keyword_of(state.state)
    cookie = f" [#{request.priority}]" if request.priority else ""
    tags = _heading_tags(request.tags, sender)
    who = f"From {sender.label}: " if sender is not None and sender.marked else ""
    parts = [f"* {keyword}{cookie} {who}{safe_title(request.text)}{tags}\n"]
    if state.state in FINAL and state.closed_hlc is not None:
        parts.append(f"  CLOSED: {org_inactive(state.closed_hlc, tz)}\n")
    submitted = org_inactive(state.shown_requested_hlc, tz)
    props: list[tuple[str, str]] = [("ID", request.id), ("FROM", request.sender)]
    props.extend(sender_properties(sender))
    if state.tier is not None:
        props.append(("TRUST_TIER", state.tier))
    props.append(("SUBMITTED", submitted))
    props.extend(_awaiting(state, tz))
    if state.approval is not None:
        props.append(("APPROVAL", state.approval))
    if request.effort is not None:
        props.append(("EFFORT", str(request.effort)))
    if request.tokens is not None:
        props.append(("ESTIMATED_TOKENS", str(request.tokens)))
        props.append(("ESTIMATED_COST", cost_of(request.tokens)))
    props.append(("CREATED", submitted))
    if state.started_hlc is not None:
        props.append(("STARTED", org_inactive(state.started_hlc, tz)))
    done = state.completed
    if done is not None and state.completed_hlc is not None:
        props.append(("COMPLETED", org_inactive(state.completed_hlc, tz)))
        props.append(("TOKENS_USED", str(done.tokens)))
        props.append(("COST", done.cost if done.cost is not None else cost_of(done.tokens)))
        if done.result is not None:
            props.append(("RESULT_PATH", safe_line(done.result, 200)))
        if done.quality is not None:
            props.append(("QUALITY_SCORE", done.quality))
    if state.retry_count:
        props.append(("RETRY_COUNT", str(state.retry_count)))
    for name, text in (
        ("RETRY_REASON", state.retry_reason),
        ("REVISION_FEEDBACK", state.revision_feedback),
        ("REJECTION_REASON", state.rejection_reason),
        ("CANCELLATION_REASON", state.cancellation_reason),
    ):
        if text is not None:
            props.append((name, safe_line(text)))
    props.extend(_imported_properties(state, {name for name, _ in props}))
    parts.extend(["  :PROPERTIES:\n", *(_property(name, value) for name, value in props)])
    parts.append("  :END:\n")
    if state.changes:
        parts.append("  :LOGBOOK:\n")
        parts.extend(_logbook_line(change, tz) for change in state.changes)
        parts.append("  :END:\n")
    parts.extend(line + "\n" for line in encode_body(request.text))
    return "".join(parts)


def task_entry(state: TaskState, tz: tzinfo, sender: Sender | None = None) -> Entry:
    return Entry(
        subject=state.id,
        role=ROLE,
        file=file_for(state, tz),
        sort=state.request_order,
        text=render_task(state, tz, sender),
    )


def task_entries(states: Iterable[TaskState], agent: str, tz: tzinfo) -> list[Entry]:
    return [task_entry(state, tz) for state in states if state.agent == agent]
