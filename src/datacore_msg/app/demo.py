"""``datacore-msg demo``: two installations in a throwaway folder exchange messages and an agent
task by export/import.

Runs the same library calls as the CLI (init, contacts add, send, export, import, reply, mark, the
governor's decision, task claim/complete, budget, rebuild --check) and returns a transcript with the
rendered views, so a newcomer sees the whole loop in one command.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path

from datacore_msg.app import audit, budget, exchange, messages, tasks
from datacore_msg.app.setup import init
from datacore_msg.app.space import open_space
from datacore_msg.config.contacts_edit import add_contact
from datacore_msg.config.settings import DEFAULT_SPACE


def _exchange(src_root: Path, dst_root: Path) -> str:
    with open_space(str(src_root)) as src:
        buffer = io.StringIO()
        count = exchange.export(src, buffer)
    with open_space(str(dst_root)) as dst:
        data = buffer.getvalue().encode("utf-8")
        result = exchange.import_events(dst, io.BytesIO(data))
    return f"{count} event(s) exported, {result.accepted} new on arrival"


def _introduce(roots: dict[str, Path], out: list[str]) -> None:
    keys = {}
    for name, root in roots.items():
        result = init(name, DEFAULT_SPACE, "Europe/Ljubljana", str(root), state_dir=str(root / ".state"))
        keys[name] = result.public_key
        out.append(f"$ datacore-msg init --name {name}   # key {result.public_key[:16]}…")
    for name, root in roots.items():
        other = "tex" if name == "gregor" else "gregor"
        with open_space(str(root)) as sp:
            add_contact(sp.paths.contacts_file, other, keys[other], "team", "2026-11-24")
        out.append(f"$ datacore-msg contacts add {other} {keys[other][:16]}… --tier team   # as {name}")


def _conversation(roots: dict[str, Path], out: list[str]) -> str:
    with open_space(str(roots["gregor"])) as gregor:
        first = messages.send(gregor, "@tex", "Can you review the relay PR today?")
        out.append(f"$ datacore-msg send @tex 'Can you review the relay PR today?' -> {first.message_id}")
        messages.send(gregor, "@tex", "* Not a heading\n:END:\n#+TITLE: not a keyword", priority="B")
        out.append("$ datacore-msg send @tex --priority B '<hostile text>'  (stays plain text)")
    out.append(f"gregor -> tex: {_exchange(roots['gregor'], roots['tex'])}")
    with open_space(str(roots["tex"])) as tex:
        answer = messages.reply(tex, first.message_id, "Yes, after lunch. Thread kept.")
        out.append(f"$ datacore-msg reply {first.message_id} 'Yes, after lunch…' -> {answer.message_id}")
        messages.mark(tex, first.message_id, "read")
        out.append(f"$ datacore-msg mark {first.message_id} read")
        task = tasks.request(
            tex, "gregor-claude", "Research competitor pricing", tags=["research"], tokens=8000
        )
        out.append(
            "$ datacore-msg send @gregor-claude 'Research competitor pricing' --tag research "
            f"--tokens 8000 -> {task.task_id} (REQUESTED: gregor's governor decides)"
        )
    out.append(f"tex -> gregor: {_exchange(roots['tex'], roots['gregor'])}")
    return task.task_id


def _agent_work(roots: dict[str, Path], task_id: str, out: list[str]) -> None:
    with open_space(str(roots["gregor"])) as gregor:
        decided = tasks.show(gregor, task_id)
        decision = decided.decision
        assert decision is not None
        out.append(f"gregor's governor: {decided.state} ({decision.rule}: {decision.reason})")
        tasks.transition(gregor, task_id, "claim")
        out.append(f"$ datacore-msg task claim {task_id}   # as gregor-claude")
        done = tasks.transition(gregor, task_id, "complete", tokens=6400, result="research/pricing.md")
        out.append(
            f"$ datacore-msg task complete {task_id} --tokens 6400 --result research/pricing.md"
            f" -> {done.state.state}"
        )
        report = budget.budget_of(gregor)
        out.append(
            f"$ datacore-msg budget -> {report.total_today} of {report.daily_budget} tokens used today, "
            f"queue {report.queue_depth}/{report.max_queue_depth}"
        )
    out.append(f"gregor -> tex: {_exchange(roots['gregor'], roots['tex'])}")
    with open_space(str(roots["tex"])) as tex:
        out.append(f"tex sees his task {task_id}: {tasks.show(tex, task_id).state}")


def _views(roots: dict[str, Path], out: list[str]) -> None:
    for name, root in roots.items():
        with open_space(str(root)) as sp:
            check = audit.rebuild(sp, check_only=True)
            verified = audit.verify(sp)
            count, problems = verified.events, verified.problems
            views = sp.paths.views_dir
            out.append("")
            out.append(
                f"== {name}: {count} events, {len(problems)} problems; rebuild --check: "
                + ("clean" if not check.differing else "differs: " + ", ".join(check.differing))
            )
            for file in ("inbox.org", "outbox.org", f"agents/{name}-claude.org"):
                out.append(f"--- {views / file}")
                out.append((views / file).read_text(encoding="utf-8").rstrip("\n"))


def run_demo(keep: str | None = None) -> str:
    base = Path(keep).absolute() if keep else Path(tempfile.mkdtemp(prefix="datacore-msg-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    out: list[str] = [f"Demo folder: {base}", ""]
    roots = {name: base / name for name in ("gregor", "tex")}
    try:
        _introduce(roots, out)
        task_id = _conversation(roots, out)
        _agent_work(roots, task_id, out)
        _views(roots, out)
    finally:
        if keep is None:
            shutil.rmtree(base, ignore_errors=True)
            out.append("")
            out.append("(demo folder removed; pass --keep DIR to keep it)")
    return "\n".join(out)
