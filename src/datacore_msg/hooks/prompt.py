"""``datacore-msg hook prompt`` and ``hook session-start``: the Claude Code hooks.

Theory of operation
-------------------
Claude Code runs the prompt hook before every prompt the user submits, with a JSON object on stdin
(``session_id``, ``prompt``, ``cwd``, …) and adds what the hook prints to the model's context. So:

0. **Cheapest when nothing can be new.** When a prompt of a session finds nothing to print, nothing
   to catch up and nothing to claim, it leaves a stamp (:mod:`.quiet`): the identities of every file
   its answer depended on (settings, contacts, the settings cache, the event log and its ``-wal``,
   the session's cursor), taken before it read them, and the first WORKING task's timeout. The
   session's next prompt compares those with ``stat`` and the clock before importing anything else
   (:mod:`datacore_msg.cli.hookrun`) and exits silently when all match; any difference or doubt, and
   it runs the check below, which stays the reference for what is printed.
1. **Cheap when nothing is new.** The settings come from a JSON cache (:mod:`.config`), the state
   from the derived rows the projections keep (:mod:`datacore_msg.readmodels.hookread`), and what this
   session was already shown from its cursor (:mod:`.state`); standard library only. Nothing new →
   no output at all.
2. **The full path only when there is work.** When the derived rows are behind the log (events
   arrived by import or relay), the settings or contacts changed, a WORKING task has passed its
   timeout, or the agent has QUEUED work and nothing WORKING (and ``messaging.hook.auto_claim`` is
   on), the hook opens the space like any command: the views catch up, the governor decides what
   arrived, timed-out tasks are swept and the next task is claimed (:mod:`datacore_msg.app.agent_queue`),
   all under the views lock, so two sessions prompting at once never claim one task.
3. **Each item once per session.** A task shown in full, a WORKING reminder, a task waiting for the
   owner's approval and a new message are each recorded in the session's cursor when shown.
4. **Never in the way.** Exit status 0 always (2 would block the user's prompt). A failure of the
   hook itself (bad stdin, settings it cannot read, a busy lock) becomes a one-line
   ``systemMessage`` for the user, once per session and failure kind, with details in ``hook.log``.

``--check`` shows what would be printed now without claiming or recording anything (``hook status``
uses it). ``session-start`` prints a short digest of the queue, approvals and unread messages once
per session; when a relay is configured it also makes sure a watcher runs for the space
(:func:`_ensure_watcher`). The prompt hook never touches the network.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from datacore_msg import jsontext
from datacore_msg.errors import DatacoreError, InvalidInput
from datacore_msg.governor.queue import next_task
from datacore_msg.hooks import config as hook_config
from datacore_msg.hooks import quiet, state
from datacore_msg.hooks.quiet import MAX_INPUT_BYTES
from datacore_msg.readmodels import hookread
from datacore_msg.records import TYPE_CHECKING, NamedTuple
from datacore_msg.task_states import QUEUED, WAITING, WORKING

if TYPE_CHECKING:  # imported when there is something to say: a prompt with nothing new needs neither
    from pathlib import Path

    from datacore_msg.hooks import compose

PROMPT_EVENT = "UserPromptSubmit"
SESSION_EVENT = "SessionStart"
HOOK_LOCK_TIMEOUT_S = 10.0
DIGEST = "digest"
UNCHECKED = "nothing was checked"


class Args(NamedTuple):
    root: str | None = None
    space: str | None = None
    check: bool = False


class Outcome(NamedTuple):
    stdout: str
    exit_code: int = 0


class Snapshot(NamedTuple):
    fresh: bool
    tasks: list[hookread.OpenTask]
    unread: list[hookread.Unread]


def parse_args(argv: Sequence[str]) -> Args | str:
    """``[--root R] [--space S] [--check]`` (also ``--opt=value``); anything else is returned as the
    offending word."""
    parsed = quiet.parse_args(argv)
    return parsed if isinstance(parsed, str) else Args(*parsed)


def parse_input(raw: bytes) -> dict[str, object]:
    if not raw.strip():
        raise InvalidInput("no input on stdin (Claude Code sends the hook's JSON there); nothing was checked")
    if len(raw) > MAX_INPUT_BYTES:
        raise InvalidInput(f"stdin holds over {MAX_INPUT_BYTES:,} bytes, not a hook's JSON; {UNCHECKED}")
    try:
        data = jsontext.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"stdin is not JSON ({str(exc).splitlines()[0][:80]}); {UNCHECKED}") from None
    except RecursionError:
        raise InvalidInput(f"stdin is not JSON (nested too deeply); {UNCHECKED}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"stdin holds a JSON {type(data).__name__}, not an object; nothing was checked")
    session = data.get("session_id")
    if not isinstance(session, str) or not session.strip() or len(session) > 500:
        raise InvalidInput("stdin has no usable session_id; nothing was checked")
    return data


def _read(config: hook_config.HookConfig) -> Snapshot:
    try:
        with hookread.reading(config.db) as conn:
            fresh = hookread.freshness(conn).current
            tasks = hookread.open_tasks(conn, config.agent)
            unread = hookread.unread_messages(conn)
    except DatacoreError:
        return Snapshot(False, [], [])
    return Snapshot(fresh, tasks, unread)


def _text(config: hook_config.HookConfig, task: str) -> str:
    with hookread.reading(config.db) as conn:
        return hookread.task_text(conn, task) or ""


def _full(config: hook_config.HookConfig, claim: bool) -> str | None:
    """Open the space like any command: catch up, let the governor run, sweep, maybe claim."""
    from datacore_msg.app.agent_queue import take_next
    from datacore_msg.app.space import open_space

    with open_space(config.root, config.space_arg) as space:
        space.lock_timeout_s = HOOK_LOCK_TIMEOUT_S
        return take_next(space, claim=claim).claimed


def _needs_full(snapshot: Snapshot, config: hook_config.HookConfig, now_ms: int) -> bool:
    if not snapshot.fresh:
        return True
    timeout = config.timeout_ms
    stale = timeout > 0 and any(t.state == WORKING and now_ms - t.state_ms > timeout for t in snapshot.tasks)
    return stale or (config.auto_claim and next_task(snapshot.tasks, config.boosts) is not None)


def _news(
    config: hook_config.HookConfig,
    snapshot: Snapshot,
    seen: set[str],
    claimed: str | None,
    prog: str,
    check: bool = False,
) -> tuple[compose.News | None, set[str]]:
    """What to show this session and the cursor items it adds; None when nothing is new (then
    :mod:`.compose` is not even imported)."""
    shown: set[str] = set()
    card = None
    by_id = {task.task: task for task in snapshot.tasks}
    if claimed is not None and claimed in by_id:
        from datacore_msg.hooks import compose

        task = by_id[claimed]
        card = compose.Card(task, _text(config, claimed), compose.CLAIMED)
        shown |= {f"task:{task.task}:{task.state_ms}", f"work:{task.task}:{task.state_ms}"}
    else:
        candidate = next_task(snapshot.tasks, config.boosts)
        if candidate is not None and f"task:{candidate.task}:{candidate.state_ms}" not in seen:
            from datacore_msg.hooks import compose

            mode = compose.PREVIEW if check and config.auto_claim else compose.ANNOUNCED
            card = compose.Card(candidate, _text(config, candidate.task), mode)
            shown.add(f"task:{candidate.task}:{candidate.state_ms}")
    shown_id = None if card is None else card.task.task
    queued_left = sum(1 for t in snapshot.tasks if t.state == QUEUED and t.task != shown_id)
    reminders = [
        t
        for t in snapshot.tasks
        if t.state == WORKING and t.task != claimed and f"work:{t.task}:{t.state_ms}" not in seen
    ]
    shown |= {f"work:{t.task}:{t.state_ms}" for t in reminders}
    waiting = [t for t in snapshot.tasks if t.state == WAITING and f"wait:{t.task}" not in seen]
    shown |= {f"wait:{t.task}" for t in waiting}
    messages = [m for m in snapshot.unread if f"msg:{m.message}" not in seen and m.sender != config.agent]
    shown |= {f"msg:{m.message}" for m in messages}
    if not (card or reminders or waiting or messages):
        return None, shown
    from datacore_msg.hooks import compose

    news = compose.News(
        user=config.user,
        agent=config.agent,
        prog=prog,
        card=card,
        more_queued=queued_left if card is not None else 0,
        reminders=reminders,
        waiting=waiting,
        messages=messages,
    )
    return news, shown


def prompt(args: Args, raw: bytes, env: Mapping[str, str], now_ms: int, prog: str) -> Outcome:
    """The UserPromptSubmit hook: what is new for this session, claiming the next task if free."""
    return _guarded(raw, env, lambda data: _prompt(args, data, env, now_ms, prog))


def _prompt(args: Args, data: Mapping[str, object], env: Mapping[str, str], now_ms: int, prog: str) -> str:
    session = str(data["session_id"])
    cached = hook_config.cached(args.root, args.space, env)
    config = cached or hook_config.build(args.root, args.space, env)
    marks = None if args.check else _observe(config, session, env)
    snapshot = _read(config)
    claimed = None
    if not args.check and (cached is None or _needs_full(snapshot, config, now_ms)):
        claimed = _full(config, claim=config.auto_claim)
        marks = _observe(config, session, env)
        snapshot = _read(config)
    seen = set() if args.check else state.load_cursor(config.state_dir, session)
    news, shown = _news(config, snapshot, seen, claimed, prog, args.check)
    if news is None or news.empty:
        if marks is not None and claimed is None:
            _stamp(args, config, session, env, snapshot, marks, now_ms)
        return ""
    from datacore_msg.hooks import compose

    output = compose.render(news, PROMPT_EVENT, now_ms)
    if not args.check:
        _save(config, session, _still_open(seen, snapshot) | shown, env)
    return output


def _observe(config: hook_config.HookConfig, session: str, env: Mapping[str, str]) -> list[str] | None:
    """The identities of every file this prompt's answer depends on, taken before it reads them (the
    stamp's marks); None when this session gets no stamp or a file changed too recently."""
    if not quiet.is_safe(session):
        return None
    paths = (  # as many and in the order quiet.STAMPED_FILES says
        config.settings_file,
        config.contacts_file,
        hook_config.cache_file(config.root, config.space_arg, env),
        config.db,
        config.db + "-wal",
        state.cursor_file(config.state_dir, session),
    )
    return quiet.observe(paths, time.time_ns())


def _stamp(
    args: Args,
    config: hook_config.HookConfig,
    session: str,
    env: Mapping[str, str],
    snapshot: Snapshot,
    marks: list[str],
    now_ms: int,
) -> None:
    """Nothing to print: record that for the session's next prompt (:mod:`.quiet`) when the same
    files would again give nothing without opening the space (the rows current, nothing to sweep or
    claim, the settings cache still the config used), until the first WORKING task's timeout."""
    if not snapshot.fresh or _needs_full(snapshot, config, now_ms):
        return
    if hook_config.cached(args.root, args.space, env) != config:
        return
    timeout = config.timeout_ms
    working = [t.state_ms + timeout for t in snapshot.tasks if t.state == WORKING]
    due = min(working) if timeout > 0 and working else None
    path = quiet.stamp_file(env, config.root, config.space_arg, session)
    head = quiet.header(config.root, config.space_arg, session, env)
    try:
        state.save_stamp(path, quiet.stamp_bytes(head, due, marks))
    except DatacoreError:
        return  # a stamp only saves time; without one the next prompt runs the whole check


def _save(config: hook_config.HookConfig, session: str, seen: set[str], env: Mapping[str, str]) -> None:
    """Record what was shown; if that fails the output still goes out (the agent must hear of a
    claim), the failure goes to the log, and the items may be shown once more."""
    try:
        state.save_cursor(config.state_dir, session, seen)
    except DatacoreError as exc:
        _log(state.default_log_file(env), str(exc))


def _still_open(seen: set[str], snapshot: Snapshot) -> set[str]:
    """The cursor's items whose task or message is still open or unread (the others cannot come
    back as they were), so a cursor stays as small as the queue and the unread messages."""
    live = {task.task for task in snapshot.tasks} | {message.message for message in snapshot.unread}
    return {item for item in seen if item == DIGEST or item.partition(":")[2].partition(":")[0] in live}


def session_start(args: Args, raw: bytes, env: Mapping[str, str], now_ms: int, prog: str) -> Outcome:
    """The SessionStart hook: a short digest of the queue, approvals and unread messages."""
    return _guarded(raw, env, lambda data: _session_start(args, data, env, now_ms, prog))


def _session_start(
    args: Args, data: Mapping[str, object], env: Mapping[str, str], now_ms: int, prog: str
) -> str:
    session = str(data["session_id"])
    cached = hook_config.cached(args.root, args.space, env)
    config = cached or hook_config.build(args.root, args.space, env)
    if config.relay and not args.check:
        _ensure_watcher(config, env)
    seen = set() if args.check else state.load_cursor(config.state_dir, session)
    if DIGEST in seen:
        return ""
    snapshot = _read(config)
    if not args.check and (cached is None or not snapshot.fresh):
        _full(config, claim=False)
        snapshot = _read(config)
    from datacore_msg.hooks import compose

    text = compose.digest(config.user, config.agent, prog, snapshot.tasks, snapshot.unread)
    if not args.check:
        state.prune_cursors(config.state_dir, now_ms / 1000)
        state.prune_stamps(quiet.cache_dir(env), now_ms / 1000)
    if not text:
        return ""
    if not args.check:
        _save(config, session, seen | {DIGEST}, env)
    return compose.hook_json(SESSION_EVENT, text)


def _ensure_watcher(config: hook_config.HookConfig, env: Mapping[str, str]) -> None:
    """A relay is configured: make sure a watcher (``sync --watch``) runs for the space, so the
    agent's tasks arrive without anyone running a command. Started detached, its output appended to
    ``watcher.log`` in the space's state folder, unless one holds the lock; a failure to start it
    goes to the hook's log and does not stop the digest."""
    import sys
    from pathlib import Path

    from datacore_msg.app.watch_lock import start_watcher

    argv = [sys.executable, "-m", "datacore_msg", "sync", "--watch", "--root", config.root]
    if config.space_arg:
        argv += ["--space", config.space_arg]
    try:
        start_watcher(Path(config.state_dir), argv)
    except (OSError, DatacoreError) as exc:
        _log(state.default_log_file(env), f"could not start the watcher: {exc}")


def _log(log_file: Path, summary: str) -> bool:
    """Write the current exception's details to the hook's log; whether that worked."""
    import traceback

    try:
        state.log_failure(log_file, summary, traceback.format_exc())
    except DatacoreError:
        return False
    return True


def _guarded(raw: bytes, env: Mapping[str, str], body: Callable[[dict[str, object]], str]) -> Outcome:
    session = None
    try:
        data = parse_input(raw)
        session = str(data["session_id"])
        return Outcome(body(data))
    except Exception as exc:
        from datacore_msg.hooks import compose

        log_file = state.default_log_file(env)
        code = exc.code if isinstance(exc, DatacoreError) else "internal"
        summary = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        if not isinstance(exc, DatacoreError):
            summary = f"unexpected {type(exc).__name__}: {summary}"
        where = f"; details in {log_file}" if _log(log_file, summary) else ""
        if session is not None and not state.first_notice(log_file, session, code):
            return Outcome("")
        return Outcome(compose.notice(f"datacore-msg hook: {summary}{where}"))
