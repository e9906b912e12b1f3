"""The prompt hook's stamp (:mod:`datacore_msg.hooks.quiet`): a prompt with nothing new answered from a
few ``stat`` calls, and everything that must still get through it.

Real hook processes (the console script of ``bin/``) on real installations. Each test lets the
files settle (a stamp is only written when every file it covers is older than
:data:`~datacore_msg.hooks.quiet.RACY_NS`), has one prompt write the stamp and the next one answer
from it, which is checked from ``-X importtime`` (the stamp's answer imports neither the hook's full
check nor SQLite, nor anything ``python -c pass`` does not beyond ``_json`` and ``zlib``);
then it changes one thing and checks that the next prompt shows what it must:

* a message arriving by ``import``, and one stored by ingest alone (the watcher's way: the derived
  rows behind the log);
* a WORKING task's timeout passing with no new event at all;
* a settings change, including one rewritten in place with the same size and its mtime put back;
* the session's cursor rewritten in place with the same size and mtime;
* a change made just before a prompt (the racy window): that prompt writes no stamp.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datacore_msg.app import exchange, tasks
from datacore_msg.config.paths import settings_path
from datacore_msg.errors import InvalidInput
from datacore_msg.hooks import quiet
from datacore_msg.hooks.prompt import Args, parse_input, prompt
from peers import rewrite_in_place

MINUTE = 60_000
#: The console script as the installer installs it (only its first line is rewritten).
SCRIPT = Path(__file__).resolve().parents[2] / "bin" / "datacore-msg"
#: What a stamp's answer may import beyond what ``python -c pass`` has (``__future__``: every module
#: of ours names it).
ALLOWED = {"__future__", "_json", "zlib"}


def wall() -> int:
    return time.time_ns() // 1_000_000


def hook_env(inst: Any, tmp_path: Path) -> dict[str, str]:
    env = inst.env()
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg-cache")
    env["XDG_STATE_HOME"] = str(tmp_path / "xdg-state")
    return env


def stdin_for(session: str) -> bytes:
    data = {"session_id": session, "prompt": "go on", "cwd": "/tmp", "hook_event_name": "UserPromptSubmit"}
    return json.dumps(data).encode()


def imported(stderr: str) -> set[str]:
    return {line.split("|")[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def baseline(env: dict[str, str]) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "pass"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return imported(done.stderr)


class Runner:
    def __init__(self, inst: Any, tmp_path: Path) -> None:
        self.inst = inst
        self.env = hook_env(inst, tmp_path)
        self.bare = baseline(self.env)

    def run(self, session: str) -> tuple[str, bool]:
        """The hook's stdout for this prompt, and whether the stamp answered it."""
        done = subprocess.run(
            [sys.executable, "-X", "importtime", str(SCRIPT), "hook", "prompt"],
            input=stdin_for(session),
            env=self.env,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done
        modules = imported(done.stderr.decode())
        fast = "datacore_msg.hooks.prompt" not in modules
        if fast:
            extra = {m for m in modules - self.bare if not m.startswith("datacore_msg")}
            assert extra <= ALLOWED, extra
        return done.stdout.decode(), fast

    def context(self, session: str) -> str:
        out, fast = self.run(session)
        assert not fast and out, out
        data = json.loads(out)
        return str(data["hookSpecificOutput"]["additionalContext"])

    def stamped(self, session: str) -> None:
        """Settle, then one prompt with nothing new writes the stamp and the next is answered by it."""
        settle()
        assert self.run(session) == ("", False)
        assert self.run(session) == ("", True)


def settle() -> None:
    time.sleep(quiet.RACY_NS / 1e9 + 0.2)


def ok(result: Any) -> Any:
    assert result.code == 0, result
    return result


def send_task(inst: Any, to: str, text: str) -> str:
    return str(json.loads(ok(inst.cli("send", to, text, "--json")).out)["data"]["id"])


def carry(src: Any, dst: Any) -> None:
    exported = ok(src.cli("export", "-"))
    ok(dst.cli("import", "-", stdin=exported.out.encode("utf-8")))


def ingest(src: Any, dst: Any) -> None:
    """``dst`` stores ``src``'s events as the relay's watcher does: no refresh, no governor."""
    with src.space() as space:
        lines = list(exchange.parse_lines(line.encode() for line in exchange.export_lines(space)))
    with dst.space() as space:
        assert space.store.ingest(lines, wall()).rejected == []


def test_a_message_by_import_and_one_by_ingest_are_shown_after_a_stamped_prompt(
    gregor: Any, tex: Any, introduce: Any, tmp_path: Path
) -> None:
    introduce(gregor, tex)
    hook = Runner(gregor, tmp_path)
    assert hook.run("s1") == ("", False)
    hook.stamped("s1")
    ok(tex.cli("send", "@gregor", "hello by import"))
    carry(tex, gregor)
    assert hook.context("s1").splitlines()[1].startswith("1 new message for gregor (1 from tex)")
    hook.stamped("s1")
    ok(tex.cli("send", "@gregor", "hello through the watcher"))
    ingest(tex, gregor)
    assert hook.context("s1").splitlines()[1].startswith("1 new message for gregor (1 from tex)")
    assert hook.run("s1")[0] == ""


def test_a_working_task_timing_out_with_no_event_is_swept(gregor: Any, tmp_path: Path) -> None:
    hook = Runner(gregor, tmp_path)
    task = send_task(gregor, "@claude", "slow work")
    due = wall() + 8_000
    with gregor.space(clock=lambda: due - 30 * MINUTE) as space:  # the default timeout: 30 minutes
        tasks.transition(space, task, "claim")
    assert f"Task {task} from gregor is WORKING" in hook.context("s1")
    hook.stamped("s1")
    assert wall() < due, "the machine was too slow for this test's timing"
    time.sleep((due - wall()) / 1000 + 0.3)
    context = hook.context("s1")
    assert f"gregor-claude has claimed task {task}; it is now WORKING." in context
    assert "retried 1 time." in context


def test_a_settings_change_alone_is_seen_even_with_its_size_and_mtime_kept(
    gregor: Any, tmp_path: Path
) -> None:
    path = settings_path(gregor.root)
    text = path.read_text(encoding="utf-8").rstrip()
    assert text.splitlines()[-1].startswith("  "), "messaging must be the last section"
    path.write_text(text + "\n  hook:\n    auto_claim: false\n", encoding="utf-8")
    hook = Runner(gregor, tmp_path)
    task = send_task(gregor, "@claude", "announce me")
    assert "automatic claiming is off" in hook.context("s1")
    hook.stamped("s1")
    rewrite_in_place(path, b"auto_claim: false", b"auto_claim: true ")
    assert f"gregor-claude has claimed task {task}; it is now WORKING." in hook.context("s1")


def test_the_cursor_rewritten_with_its_size_and_mtime_kept_is_seen(
    gregor: Any, tex: Any, introduce: Any, tmp_path: Path
) -> None:
    introduce(gregor, tex)
    hook = Runner(gregor, tmp_path)
    ok(tex.cli("send", "@gregor", "hello"))
    carry(tex, gregor)
    first = hook.context("s1")
    hook.stamped("s1")
    cursor = gregor.state / "spaces" / gregor.space_name / "hook-sessions" / "s1.json"
    (seen,) = json.loads(cursor.read_text(encoding="utf-8"))["seen"]
    rewrite_in_place(cursor, seen.encode(), seen[:-1].encode() + (b"0" if seen[-1] != "0" else b"1"))
    assert hook.context("s1") == first


def test_a_change_just_before_a_prompt_writes_no_stamp(gregor: Any, tmp_path: Path) -> None:
    hook = Runner(gregor, tmp_path)
    assert hook.run("s1") == ("", False)
    settle()
    ok(gregor.cli("send", "@tex", "a message of gregor's own: nothing new for the hook"))
    assert hook.run("s1") == ("", False)
    assert hook.run("s1") == ("", False)
    stamps = Path(hook.env["XDG_CACHE_HOME"]) / "datacore-msg" / quiet.STAMPS
    assert not stamps.exists() or list(stamps.iterdir()) == []


def stamp_of(hook: Runner) -> Path:
    (stamp,) = (Path(hook.env["XDG_CACHE_HOME"]) / "datacore-msg" / quiet.STAMPS).iterdir()
    return stamp


def test_a_fifo_planted_as_the_stamp_neither_hangs_a_prompt_nor_stays(gregor: Any, tmp_path: Path) -> None:
    """A FIFO opened for reading waits for a writer: every prompt hung in ``open`` until the hook's
    timeout. Now it is no stamp, and the whole check writes a real one over it."""
    hook = Runner(gregor, tmp_path)
    assert hook.run("s1") == ("", False)
    hook.stamped("s1")
    stamp = stamp_of(hook)
    stamp.unlink()
    os.mkfifo(stamp)
    assert hook.run("s1") == ("", False)  # Runner.run: at most 60 s
    assert stamp.is_file()
    assert hook.run("s1") == ("", True)


@pytest.mark.parametrize("kept", [1, 2, 3])
def test_a_stamp_cut_to_name_fewer_files_is_no_answer(
    gregor: Any, tex: Any, introduce: Any, tmp_path: Path, kept: int
) -> None:
    """A stamp edited to name only files an import does not change (the first ``kept`` of the
    settings, the contacts and the settings cache) answered "nothing new" for ever; a stamp must
    name every file a stamp covers, or it is a miss."""
    introduce(gregor, tex)
    hook = Runner(gregor, tmp_path)
    assert hook.run("s1") == ("", False)
    hook.stamped("s1")
    stamp = stamp_of(hook)
    fields = stamp.read_bytes().split(b"\0")
    head = len(fields) - 2 * 6 - 2  # the header, the due time, six files, the end
    stamp.write_bytes(
        b"\0".join([*fields[: head + 1], *fields[head + 1 : head + 1 + 2 * kept], quiet.END.encode()])
    )
    ok(tex.cli("send", "@gregor", "hello by import"))
    carry(tex, gregor)
    assert hook.context("s1").splitlines()[1].startswith("1 new message for gregor (1 from tex)")


def test_odd_session_ids_and_check_never_use_a_stamp(gregor: Any, tmp_path: Path) -> None:
    env = hook_env(gregor, tmp_path)
    odd = "session with spaces"
    assert prompt(Args(), stdin_for(odd), env, wall(), "datacore-msg").stdout == ""
    settle()
    for check in (True, False, False):
        assert prompt(Args(check=check), stdin_for(odd), env, wall(), "datacore-msg").stdout == ""
    assert not quiet.nothing_new(None, None, stdin_for(odd), env, wall())
    assert prompt(Args(), stdin_for("s1"), env, wall(), "datacore-msg").stdout == ""
    assert quiet.nothing_new(None, None, stdin_for("s1"), env, wall())
    assert not quiet.nothing_new(None, None, stdin_for("s1"), {**env, "USER": "someone-else"}, wall())
    assert not quiet.nothing_new(None, "another-space", stdin_for("s1"), env, wall())
    assert not quiet.nothing_new(None, None, stdin_for("s1") + b" x", env, wall())


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=80),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
            lambda inner: (
                st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3)
            ),
            max_leaves=8,
        ).map(lambda value: json.dumps(value).encode()),
        st.dictionaries(
            st.sampled_from(["session_id", "prompt", "cwd"]),
            st.text(alphabet='ab-_ 1é"\\', max_size=8) | st.integers(),
        ).map(lambda value: json.dumps(value).encode()),
    ),
    st.sampled_from(["", " ", "\n\t", "\ufeff", " x", "\u00a0"]),
)
def test_stdin_is_read_as_the_whole_check_reads_it(raw: bytes, pad: str) -> None:
    """Whatever the stamp reads as a session id, the whole check reads the same, without a complaint."""
    data = pad.encode() + raw + pad[::-1].encode()
    session = quiet.session_of(data)
    if session is None:
        return
    assert parse_input(data)["session_id"] == session
    assert quiet.is_safe(session)


def test_parse_input_refusals_are_never_taken_for_a_session() -> None:
    for data in (
        b"",
        b"[]",
        b'{"session_id": ""}',
        b'{"session_id": 1}',
        b'{"session_id": "a"} {}',
        b"\xff",
        b"[" * 100_000,
    ):
        assert quiet.session_of(data) is None
        with pytest.raises(InvalidInput):
            parse_input(data)


def test_surfacing_and_claiming_loads_no_class_or_typing_framework(gregor: Any, tmp_path: Path) -> None:
    """The full check (a task to claim) imports neither attrs, cattrs, click, typing, dataclasses
    nor inspect: each costs a whole hook run more than its work."""
    task = send_task(gregor, "@claude", "look into the budget")
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(SCRIPT), "hook", "prompt"],
        input=stdin_for("4d1b6c1e-0000-4000-8000-00000000c1a1"),
        env=hook_env(gregor, tmp_path),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done
    assert f"has claimed task {task}" in done.stdout.decode()
    heavy = {"attr", "attrs", "cattrs", "click", "typing", "dataclasses", "inspect"}
    assert heavy & imported(done.stderr.decode()) == set()
