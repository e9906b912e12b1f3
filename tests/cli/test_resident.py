"""The resident process, with real processes: a command handed to it behaves as if it ran alone.

* The first command finds none, runs itself and starts one; the next is served by it, with the
  same output, error line and exit status as a command run on its own (``DATACORE_MSG_RESIDENT=off``).
* Standard input, the working folder and the environment (another installation) travel
  with the command; the prompt hook's stdin, already read by the client, too.
* Ctrl-C reaches the command (status 130, as alone); a client killed outright takes its command
  with it.
* It serves only this user, from a folder only this user can enter, and it retires itself when a
  source file of the package changed (a new version), so no command runs stale code.
* Garbage on its socket is dropped; it keeps serving.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import SRC, Installation

from datacore_msg.transport import resident

pytestmark = pytest.mark.timeout(120)


class Runner:
    """Runs the console script with the resident process on (or off), in one runtime folder."""

    def __init__(
        self, inst: Installation, runtime: Path, pythonpath: str | None = None, options: tuple[str, ...] = ()
    ) -> None:
        self.inst = inst
        self.runtime = runtime
        self.pythonpath = pythonpath
        self.options = options

    def env(self, on: bool = True, **extra: str) -> dict[str, str]:
        env = self.inst.env()
        env["XDG_RUNTIME_DIR"] = str(self.runtime)
        env["DATACORE_MSG_RESIDENT"] = "on" if on else "off"
        if self.pythonpath is not None:
            env["PYTHONPATH"] = self.pythonpath
        env.update(extra)
        return env

    def run(
        self, *args: str, on: bool = True, stdin: bytes | None = None, cwd: Path | None = None, **extra: str
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, *self.options, "-m", "datacore_msg", *args],
            input=stdin,
            stdin=subprocess.DEVNULL if stdin is None else None,
            capture_output=True,
            env=self.env(on, **extra),
            cwd=cwd,
            timeout=60,
            check=False,
        )

    @property
    def socket(self) -> str:
        return str(self.status()["socket"])

    def status(self) -> dict[str, Any]:
        proc = self.run("resident", "status", "--json")
        assert proc.returncode == 0, proc.stderr
        return dict(json.loads(proc.stdout)["data"])

    def wait_running(self) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            info = self.status()
            if info["running"]:
                return info
            time.sleep(0.05)
        raise AssertionError(f"no resident process started at {self.socket}")

    def stop(self) -> None:
        self.run("resident", "stop")

    def popen(self, *args: str, on: bool = True, **kwargs: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "datacore_msg", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env(on),
            **kwargs,
        )


@pytest.fixture
def runner(make_installation: Callable[..., Installation], tmp_path: Path) -> Iterator[Runner]:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    made = Runner(make_installation("gregor"), runtime)
    yield made
    made.stop()


def same(proc: subprocess.CompletedProcess[bytes], alone: subprocess.CompletedProcess[bytes]) -> None:
    assert (proc.returncode, proc.stdout, proc.stderr) == (alone.returncode, alone.stdout, alone.stderr)


def children_of(pid: int) -> list[int]:
    """The resident process's children running commands: not its spare child, which waits in
    ``/`` (a command's child works in its client's folder)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(child) for child in text]
    return [child for child in found if _folder_of(child) not in ("/", None)]


def _folder_of(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


def state_of(pid: int) -> str:
    """The process's state letter (``T``: stopped)."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]


def command_of(server: int) -> int:
    """The pid of the command's process the resident process ``server`` runs, once the command
    waits on its standard input (a pipe; a signal before that is another case)."""
    until(lambda: len(children_of(server)) == 1)
    (child,) = children_of(server)
    until(lambda: "pipe_read" in Path(f"/proc/{child}/wchan").read_text())
    return child


def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_the_first_command_starts_one_and_the_next_is_served_with_the_same_result(runner: Runner) -> None:
    assert not runner.status()["running"]
    first = runner.run("whoami")
    assert first.returncode == 0, first.stderr
    before = runner.wait_running()
    assert before["served"] == 0
    for args in (
        ("whoami",),
        ("inbox",),
        ("show", "msg-nothing-like-it"),
        ("tasks", "--json"),
        ("inbox", "--bogus"),
    ):
        same(runner.run(*args), runner.run(*args, on=False))
    after = runner.status()
    assert after["pid"] == before["pid"]
    assert after["served"] == 5
    assert runner.run("show", "msg-nothing-like-it").returncode == 4


def test_a_send_through_it_is_a_signed_event_and_a_view_like_any_other(runner: Runner) -> None:
    runner.run("whoami")
    runner.wait_running()
    proc = runner.run("send", "@gregor", "to myself, through the resident process")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(b"Sent: msg-")
    assert runner.status()["served"] == 1
    verified = runner.run("verify", on=False)
    assert verified.returncode == 0, verified.stderr
    assert "to myself, through the resident process" in runner.inst.read("inbox.org")


def test_stdin_the_folder_and_the_environment_travel_with_the_command(
    runner: Runner, make_installation: Callable[..., Installation], tmp_path: Path
) -> None:
    runner.run("whoami")
    runner.wait_running()
    bad = b'{"not": "an event"}\n'
    same(runner.run("import", "-", stdin=bad), runner.run("import", "-", stdin=bad, on=False))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert runner.inst.cli("send", "@gregor", "a note to self").code == 0
    exported = runner.run("export", "out.jsonl", cwd=elsewhere)
    assert exported.returncode == 0, exported.stderr
    assert exported.stderr == b"Exported 1 event(s) to out.jsonl\n"
    assert len((elsewhere / "out.jsonl").read_bytes().splitlines()) == 1
    other = make_installation("tex")
    named = runner.run("whoami", "--json", DATACORE_ROOT=str(other.root))
    assert json.loads(named.stdout)["data"]["name"] == "tex"
    assert runner.status()["served"] == 3


def test_the_prompt_hook_gets_the_stdin_its_client_already_read(runner: Runner, tmp_path: Path) -> None:
    runner.run("whoami")
    runner.wait_running()
    task = json.loads(runner.inst.cli("send", "@claude", "summarise the thread", "--json").out)["data"]["id"]
    payload = json.dumps({"session_id": "s1", "prompt": "go", "hook_event_name": "UserPromptSubmit"}).encode()
    proc = runner.run("hook", "prompt", stdin=payload, XDG_CACHE_HOME=str(tmp_path / "cache"))
    assert proc.returncode == 0, proc.stderr
    context = json.loads(proc.stdout)["hookSpecificOutput"]["additionalContext"]
    assert f"has claimed task {task}" in context
    assert runner.status()["served"] == 1


def test_ctrl_c_reaches_the_command_and_a_killed_client_takes_its_command_along(runner: Runner) -> None:
    runner.run("whoami")
    server = runner.wait_running()["pid"]
    outcomes = []
    for how in (signal.SIGINT, signal.SIGKILL):
        client = subprocess.Popen(
            [sys.executable, "-m", "datacore_msg", "import", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=runner.env(),
        )
        child = command_of(server)
        client.send_signal(how)
        deadline = time.monotonic() + 30
        while children_of(server) and time.monotonic() < deadline:
            time.sleep(0.02)  # its stdin still open: it can end only by the signal or its client
        assert not children_of(server), f"the command's process {child} outlived its client"
        _, err = client.communicate(timeout=30)
        outcomes.append((client.returncode, err))
    assert outcomes[0][0] == 130, outcomes[0]
    assert b"interrupted" in outcomes[0][1]
    assert outcomes[1][0] == -signal.SIGKILL


def test_a_folder_others_can_enter_is_not_used(
    make_installation: Callable[..., Installation], tmp_path: Path
) -> None:
    runtime = tmp_path / "open-run"
    runtime.mkdir()
    (runtime / "datacore-msg").mkdir(mode=0o755)
    (runtime / "datacore-msg").chmod(0o755)
    open_runner = Runner(make_installation("gregor"), runtime)
    for _ in range(2):
        proc = open_runner.run("whoami")
        assert proc.returncode == 0, proc.stderr
    time.sleep(0.5)
    assert list((runtime / "datacore-msg").iterdir()) == []
    assert not open_runner.status()["running"]


def test_a_changed_source_file_retires_it_before_it_runs_stale_code(
    make_installation: Callable[..., Installation], tmp_path: Path
) -> None:
    copy = tmp_path / "src"
    shutil.copytree(SRC / "datacore_msg", copy / "datacore_msg", ignore=shutil.ignore_patterns("__pycache__"))
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    copied = Runner(make_installation("gregor"), runtime, pythonpath=str(copy))
    try:
        copied.run("whoami")
        old = copied.wait_running()["pid"]
        assert copied.run("whoami").returncode == 0
        assert copied.status()["served"] == 1
        module = copy / "datacore_msg" / "cli" / "message_run.py"
        module.write_text(module.read_text(encoding="utf-8") + "\n# a new version\n", encoding="utf-8")
        proc = copied.run("whoami")
        assert proc.returncode == 0, proc.stderr
        new = copied.wait_running()["pid"]
        assert new != old
        with pytest.raises(ProcessLookupError):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                os.kill(old, 0)
                time.sleep(0.05)
    finally:
        copied.stop()


def test_garbage_on_its_socket_is_dropped_and_it_keeps_serving(runner: Runner) -> None:
    import socket

    runner.run("whoami")
    runner.wait_running()
    for junk in (b"", b"\x00\x00\x00\x05hello", b"\xff" * 64):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(runner.socket)
            sock.sendall(junk)
            sock.shutdown(socket.SHUT_WR)
            assert sock.recv(64) == b""
    for op in ({"op": "explode"}, {"op": ["stop"]}):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(runner.socket)
            resident.send_request(sock, op, (0, 1, 2))
            sock.shutdown(socket.SHUT_WR)
            assert sock.recv(64) == b""
    same(runner.run("whoami"), runner.run("whoami", on=False))
    assert runner.status()["served"] == 1


def test_a_client_that_sends_nothing_or_half_a_request_holds_up_no_other_command(runner: Runner) -> None:
    import socket

    runner.run("whoami")
    runner.wait_running()
    with (
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as silent,
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as slow,
    ):
        silent.connect(runner.socket)
        slow.connect(runner.socket)
        slow.sendall(b"\x00\x00")
        started = time.monotonic()
        proc = runner.run("whoami")
        took = time.monotonic() - started
        assert proc.returncode == 0, proc.stderr
        assert took < resident.START_TIMEOUT_S / 2
        assert runner.status()["served"] == 1


def test_a_command_killed_by_a_signal_passed_on_ends_its_client_by_that_signal(runner: Runner) -> None:
    runner.run("whoami")
    server = runner.wait_running()["pid"]
    for how in (signal.SIGTERM, signal.SIGHUP):
        client = runner.popen("import", "-")
        command_of(server)
        client.send_signal(how)
        until(lambda: not children_of(server))  # by the signal: its stdin is still open
        out, err = client.communicate(timeout=30)
        assert (client.returncode, out, err) == (-how, b"", b"")


def test_a_stopped_client_stops_its_command_and_a_continued_one_continues_it(runner: Runner) -> None:
    runner.run("whoami")
    server = runner.wait_running()["pid"]
    client = runner.popen("import", "-", preexec_fn=os.setpgrp)  # a job of its own, as a shell makes it
    child = command_of(server)
    client.send_signal(signal.SIGTSTP)
    until(lambda: state_of(client.pid) == "T" and state_of(child) == "T")
    client.send_signal(signal.SIGCONT)
    until(lambda: state_of(client.pid) != "T" and state_of(child) != "T")
    out, err = client.communicate(b"", timeout=30)
    assert client.returncode == 0, err
    assert out == b"Imported 0 new event(s), 0 already present, 0 rejected.\n"


def test_a_signal_its_client_ignores_is_not_passed_on(runner: Runner) -> None:
    """As under ``nohup``: the command's own process would not die of it either."""
    runner.run("whoami")
    server = runner.wait_running()["pid"]
    client = runner.popen(
        "import", "-", preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN)
    )  # nohup
    child = command_of(server)
    client.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    assert state_of(child) != "Z"
    _, err = client.communicate(b"", timeout=30)
    assert client.returncode == 0, err


def test_the_resident_process_keeps_none_of_the_descriptors_of_the_command_that_started_it(
    runner: Runner,
) -> None:
    import select

    read, write = os.pipe()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "datacore_msg", "whoami"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=runner.env(),
            pass_fds=(write,),
            timeout=60,
            check=False,
        )
        os.close(write)
        assert proc.returncode == 0, proc.stderr
        runner.wait_running()
        ready, _, _ = select.select([read], [], [], 10)  # a pipeline reading it would hang till it exits
        assert ready and os.read(read, 1) == b""
    finally:
        os.close(read)


def test_an_interpreter_started_with_options_gets_one_too(
    make_installation: Callable[..., Installation], tmp_path: Path
) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    optioned = Runner(make_installation("gregor"), runtime, options=("-O", "-X", "utf8"))
    try:
        assert optioned.run("whoami").returncode == 0
        optioned.wait_running()
        same(optioned.run("whoami", "--json"), optioned.run("whoami", "--json", on=False))
        assert optioned.status()["served"] == 1
    finally:
        optioned.stop()


def test_a_request_without_descriptors_or_too_large_is_refused() -> None:
    import socket

    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with left, right:
        left.sendall((5).to_bytes(4, "big") + b'{"a":')
        with pytest.raises(resident.ResidentError, match="descriptors"):
            resident.receive_request(right)
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with left, right:
        resident.send_request(left, {"x": "y" * 10}, (0, 1, 2))
        request, fds = resident.receive_request(right)
        assert request == {"x": "y" * 10} and len(fds) == 3
        for fd in fds:
            os.close(fd)
        big = (resident.MAX_REQUEST + 1).to_bytes(4, "big")
        left.sendmsg(
            [big],
            [
                (
                    socket.SOL_SOCKET,
                    socket.SCM_RIGHTS,
                    b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2)),
                )
            ],
        )
        with pytest.raises(resident.ResidentError, match="at most"):
            resident.receive_request(right)
        assert resident.peer_uid(right) == os.getuid()


@pytest.mark.parametrize(
    ("value", "off"),
    [("off", True), ("OFF", True), ("0", True), ("no", True), ("false", True), ("on", False), ("", False)],
)
def test_the_switch(value: str, off: bool) -> None:
    assert resident.switched_off({resident.SWITCH: value}) is off


def test_the_socket_follows_the_interpreter_and_its_start_up_settings() -> None:
    base = {"XDG_RUNTIME_DIR": "/run/user/1000"}
    path = resident.socket_path(base)
    assert path.startswith("/run/user/1000/datacore-msg/")
    assert resident.socket_path({**base, "DATACORE_ROOT": "/elsewhere"}) == path
    assert resident.socket_path({**base, "LANG": "C"}) != path
    assert resident.socket_path({**base, "PYTHONPATH": "/x"}) != path
    assert resident.folder_of({"TMPDIR": "/t"}) == f"/t/datacore-msg-{os.getuid()}"
    assert resident.folder_of({}) == f"/tmp/datacore-msg-{os.getuid()}"


def test_sigterm_ends_it_cleanly_and_the_next_command_starts_another(runner: Runner) -> None:
    runner.run("whoami")
    pid = runner.wait_running()["pid"]
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z":
        assert time.monotonic() < deadline, "the resident process did not end on SIGTERM"
        time.sleep(0.02)
    assert not os.path.exists(runner.socket), "its socket file was left behind"
    same(runner.run("whoami"), runner.run("whoami", on=False))
    assert runner.wait_running()["pid"] != pid


def test_a_child_forked_ahead_runs_the_next_command_once_none_is_running(runner: Runner) -> None:
    runner.run("whoami")
    runner.wait_running()
    for _ in range(3):
        time.sleep(0.3)  # the spare child is forked once no command runs, then readies itself
        same(runner.run("whoami"), runner.run("whoami", on=False))
    info = runner.status()
    assert info["served"] == 3
    assert info["forked_ahead"] >= 2, info


def test_a_command_run_here_while_one_listens_starts_no_other(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datacore_msg.cli import resident_client

    started: list[list[str]] = []
    monkeypatch.setattr(resident_client.os, "posix_spawn", lambda path, argv, *a, **k: started.append(argv))
    runner.run("whoami")
    pid = runner.wait_running()["pid"]
    resident_client.spawn(runner.env())  # what a command that ran on its own does afterwards
    assert started == []
    runner.stop()
    deadline = time.monotonic() + 30
    while (answering := resident.connect(runner.socket)) is not None:
        answering.close()
        assert time.monotonic() < deadline, f"resident process {pid} still answers"
        time.sleep(0.05)
    resident_client.spawn(runner.env())
    assert len(started) == 1 and started[0][-1] == runner.socket
