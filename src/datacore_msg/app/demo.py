"""``datacore-msg demo``: two installations in a throwaway folder exchange messages by export/import.

Runs the same library calls as the CLI (init, send, export, import, reply, mark, rebuild --check) and
returns a transcript with the rendered views, so a newcomer sees the whole loop in one command.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path

from datacore_msg.app import audit, exchange, messages
from datacore_msg.app.setup import init
from datacore_msg.app.space import open_space


def _exchange(src_root: Path, dst_root: Path) -> str:
    with open_space(str(src_root)) as src:
        buffer = io.StringIO()
        count = exchange.export(src, buffer)
    with open_space(str(dst_root)) as dst:
        data = buffer.getvalue().encode("utf-8")
        result = exchange.import_events(dst, io.BytesIO(data))
    return f"{count} event(s) exported, {result.accepted} new on arrival"


def run_demo(keep: str | None = None) -> str:
    base = Path(keep).absolute() if keep else Path(tempfile.mkdtemp(prefix="datacore-msg-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    out: list[str] = [f"Demo folder: {base}", ""]
    roots = {name: base / name for name in ("gregor", "tex")}
    try:
        for name, root in roots.items():
            result = init(
                name, "1-team", "Europe/Ljubljana", str(root), state_dir=str(root / ".state")
            )
            out.append(f"$ datacore-msg init --name {name}   # key {result.public_key[:16]}…")
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
        out.append(f"tex -> gregor: {_exchange(roots['tex'], roots['gregor'])}")
        for name, root in roots.items():
            with open_space(str(root)) as sp:
                check = audit.rebuild(sp, check_only=True)
                count, problems = audit.verify(sp)
                views = sp.paths.views_dir
                out.append("")
                out.append(
                    f"== {name}: {count} events, {len(problems)} problems; rebuild --check: "
                    + ("clean" if not check.differing else "differs: " + ", ".join(check.differing))
                )
                for file in ("inbox.org", "outbox.org"):
                    out.append(f"--- {views / file}")
                    out.append((views / file).read_text(encoding="utf-8").rstrip("\n"))
    finally:
        if keep is None:
            shutil.rmtree(base, ignore_errors=True)
            out.append("")
            out.append("(demo folder removed; pass --keep DIR to keep it)")
    return "\n".join(out)
