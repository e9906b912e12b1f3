"""A command's side of the resident process: hand the command over, pass signals on, return its status.

See :mod:`datacore_msg.transport.resident` for the theory. :func:`run` answers None whenever the
resident process cannot run the command (none is listening, it is stale or was started for another
interpreter, a standard stream is closed, the switch is off); the caller then runs the command
itself and calls :func:`spawn`, so the next command finds one. Only short commands that neither
take over the terminal nor run until stopped go to the resident process (:data:`COMMANDS`).

The client stands in for the command's process in its job: the signals it gets go on to the child
(but not one it ignores, as under ``nohup``), Ctrl-Z stops the child with it and ``fg`` continues
both. The child is in no job of the terminal, so nothing would stop it reading the terminal from
the background: a command started in the background with the terminal as its input runs on its
own, and a client continued in the background (``bg``) stops itself (as the command would, reading)
and keeps the child stopped until it is in the foreground again.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # not signal: it imports enum
import os
import sys

from datacore_msg.transport import resident

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

#: The commands a resident process runs. Left out: the chat window (it owns the terminal and its
#: resize signal), the MCP server, the relay and ``sync`` (they run until stopped), ``init`` and
#: ``migrate`` (once per installation), ``demo``, and ``resident`` itself.
COMMANDS = frozenset(
    {
        "budget",
        "contacts",
        "export",
        "hook",
        "import",
        "inbox",
        "log",
        "mark",
        "mark-message",
        "online",
        "rebuild",
        "reply",
        "search",
        "send",
        "send-reply",
        "show",
        "status",
        "task",
        "task-queue",
        "tasks",
        "thread",
        "verify",
        "whoami",
    }
)
#: Signals the client passes on to the command's process.
FORWARDED = (1, 2, 3, 15)  # SIGHUP, SIGINT, SIGQUIT, SIGTERM
#: Exit status when the command's process ended without one (killed, crashed).
LOST = 1


def eligible(argv: Sequence[str], env: Mapping[str, str]) -> bool:
    if not argv or argv[0] not in COMMANDS or resident.switched_off(env):
        return False
    flags = sys.flags
    return not (flags.isolated or flags.ignore_environment or flags.no_site or flags.inspect)


def _streams() -> list[list[Any]] | None:
    described = []
    for fd, stream in enumerate((sys.stdin, sys.stdout, sys.stderr)):
        try:
            os.fstat(fd)
            through = stream.write_through  # type: ignore[union-attr]
            described.append([stream.encoding, stream.errors, stream.line_buffering, through])
        except (OSError, AttributeError):
            return None
    return described


def run(argv: Sequence[str], env: Mapping[str, str], stdin: bytes | None = None) -> int | None:
    """The exit status of ``argv`` run by the resident process, or None when it cannot run it.
    ``stdin``: what the caller already read from standard input (the child reads that instead)."""
    try:
        cwd = os.getcwd()
    except OSError:
        return None
    streams = _streams()
    if streams is None or _in_background():
        return None
    umask = os.umask(0o022)
    os.umask(umask)
    request: dict[str, Any] = {
        "key": resident.key_of(env),
        "argv": [sys.argv[0], *argv],
        "cwd": cwd,
        "env": dict(env),
        "umask": umask,
        "streams": streams,
    }
    if stdin is not None:
        request["stdin"] = stdin.decode("latin-1")
    sock = resident.connect(resident.socket_path(env))
    if sock is None:
        return None
    signals = _Signals()
    try:
        sock.settimeout(resident.START_TIMEOUT_S)
        resident.send_request(sock, request, (0, 1, 2))
        replies = resident.Replies(sock)
        first = replies.next()
        if first is None or not first.startswith("P") or not first[1:].isdigit():
            signals.restore()
            sock.close()
            return signals.before_start()
        if signals.caught:
            sock.close()
            return signals.before_start()
        sock.sendall(resident.GO)
        signals.child = int(first[1:])
        if signals.caught:  # between the check above and now
            signals.handle(signals.caught, None)
    except OSError:
        signals.restore()
        sock.close()
        return signals.before_start()
    try:
        sock.settimeout(None)
        last = replies.next()
    except OSError:
        last = None
    finally:
        sock.close()
    return _status(last)


def _in_background() -> bool:
    """Whether standard input is the terminal and this process is not in its foreground: as a job
    of its own, the command stops when it reads it; a child of the resident process would not."""
    try:
        return os.tcgetpgrp(0) != os.getpgrp()
    except OSError:
        return False


class _Signals:
    """Ctrl-C and the other :data:`FORWARDED` signals while a command is handed over: caught before
    its child has the go-ahead (the command then never runs), passed on to the child after; none
    that this process ignores (as under ``nohup``). Ctrl-Z stops the child with this process, and
    continuing this process continues it."""

    def __init__(self) -> None:
        self.child = 0
        self.caught = 0
        handlers: dict[int, Any] = {signum: self.handle for signum in FORWARDED}
        handlers.update({_signal.SIGTSTP: self.stop, _signal.SIGCONT: self.resume})
        self.saved = {
            signum: _signal.signal(signum, handler)
            for signum, handler in handlers.items()
            if _signal.getsignal(signum) != _signal.SIG_IGN
        }

    def handle(self, signum: int, frame: object) -> None:
        if not self.child:
            self.caught = self.caught or signum
            return
        _kill(self.child, signum)

    def stop(self, signum: int, frame: object) -> None:
        if self.child:
            _kill(self.child, _signal.SIGSTOP)
        _signal.signal(_signal.SIGTSTP, _signal.SIG_DFL)
        os.kill(os.getpid(), _signal.SIGTSTP)  # stopped here, as the command's own process would be
        _signal.signal(_signal.SIGTSTP, self.stop)
        self.resume(_signal.SIGCONT, None)

    def resume(self, signum: int, frame: object) -> None:
        while _in_background() and _parent_in_session():  # as the command, reading its terminal
            os.kill(os.getpid(), _signal.SIGTTIN)
        if self.child:
            _kill(self.child, _signal.SIGCONT)

    def restore(self) -> None:
        for signum, handler in self.saved.items():
            _signal.signal(signum, handler)

    def before_start(self) -> int | None:
        """None (run the command here) unless a signal came first: then what it means, as if the
        command had been interrupted before it did anything."""
        if not self.caught:
            return None
        self.restore()
        if self.caught == 2:
            sys.stderr.write(
                "datacore-msg: error: interrupted; every command that returned success is stored\n"
            )
            return 130
        os.kill(os.getpid(), self.caught)
        return 128 + self.caught


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except OSError:
        return


def _parent_in_session() -> bool:
    """Whether this process's job can be stopped and continued: its parent (the shell) is in its
    session, in another process group (else the job is orphaned and stop signals are dropped)."""
    parent = os.getppid()
    try:
        return os.getsid(parent) == os.getsid(0) and os.getpgid(parent) != os.getpgrp()
    except OSError:
        return False


def _status(last: str | None) -> int:
    if last is not None and last[:1] == "S" and last[1:].isdigit():
        return int(last[1:])
    if last is not None and last[:1] == "K" and last[1:].isdigit():
        signum = int(last[1:])
        if signum not in (_signal.SIGKILL, _signal.SIGSTOP):  # theirs cannot be set (nor need be)
            _signal.signal(signum, _signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return 128 + signum
    sys.stderr.write("datacore-msg: the command's process ended without an exit status (killed?)\n")
    return LOST


def spawn(env: Mapping[str, str]) -> None:
    """Start a resident process for the next command, detached (its own session, no terminal),
    unless one is listening already."""
    if resident.switched_off(env):
        return
    path = resident.socket_path(env)
    if not resident.safe_folder(os.path.dirname(path), create=True):
        return
    running = resident.connect(path)
    if running is not None:  # the command ran here for its own reasons (in the background, ...)
        running.close()
        return
    null = os.devnull
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, null, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, null, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, null, os.O_WRONLY, 0),
    ]
    argv = [sys.executable, *resident.interpreter_options(), "-m", "datacore_msg.cli.resident_server", path]
    try:
        os.posix_spawn(
            sys.executable,
            argv,
            dict(env),
            file_actions=actions,
            setsid=True,
            setsigmask=(),
            setsigdef=(*FORWARDED, _signal.SIGTSTP, _signal.SIGTTIN),
        )
    except OSError:
        return
