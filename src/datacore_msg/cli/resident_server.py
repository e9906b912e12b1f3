"""The resident process: ``python -m datacore_msg.cli.resident_server SOCKET``.

Theory of operation
-------------------
Started detached by the first command that found none (:func:`datacore_msg.cli.resident_client.spawn`),
it imports what the commands of :data:`~datacore_msg.cli.resident_client.COMMANDS` import, freezes
those objects out of the garbage collector's reach (so a fork shares their pages), and serves
requests on its socket (:mod:`datacore_msg.transport.resident`) one after another: for each, it
forks a child, which becomes the command's process -- the client's standard streams, folder,
environment, umask and arguments -- runs :func:`datacore_msg.cli.entry.main` as a fresh process
would, and reports the exit status. The resident process itself never runs a command, opens a log
or reads a setting, so every child starts from the state a fresh process has after its imports.

Once no command is running, it forks the next command's child ahead of time (:class:`_Spare`):
that child writes every tracked object's page once (a forked child otherwise copies them one
page fault at a time while its command runs), says it is ready and waits; the next command goes
to it, so neither the fork nor most of those copies are on the command's path. It costs the
memory of those pages (about 20 MiB) while idle. A command that comes before the spare is ready
is forked as it comes.

It exits when no command came for ``DATACORE_MSG_RESIDENT_IDLE`` seconds (default 20 minutes), when
asked to (``datacore-msg resident stop``), when its socket file was removed or taken over, and as
soon as any of its package's source files changed since it imported them (a new version installed,
a source edited): it refuses that request, so the client runs the command itself and starts a
resident process with the new code. It keeps no descriptor of the command that started it (a pipe
held for 20 minutes would keep its reader waiting), and one started for another interpreter's
options than its own (its key would not name its socket) exits at once.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import suppress

from datacore_msg.jsontext import dumps
from datacore_msg.transport import resident

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

#: Modules of the package a resident process leaves to the commands that need them: those it never
#: runs (the chat window and Textual, the MCP server and its SDK, the relay's server side and NATS)
#: and the entry points that run when imported.
COLD = (
    "datacore_msg.__main__",
    "datacore_msg.chat",
    "datacore_msg.mcp.server",
    "datacore_msg.mcp.probe",
    "datacore_msg.transport.relay_server",
    "datacore_msg.transport.relay_jetstream",
    "datacore_msg.cli.chat_run",
)
#: Standard modules that commands import on their way (the hook's text wrapping, file copies).
STANDARD = ("shutil", "textwrap", "encodings.ascii")
#: How often an idle resident process wakes to check its socket file, seconds.
WAKE_S = 30.0


def warm() -> None:
    """Import every module of the package but :data:`COLD` (so a child imports nothing its command
    needs, the push to a relay after an append included), then move every object out of the
    garbage collector's reach, so that the children share those pages instead of copying them."""
    import gc
    import importlib
    import pkgutil

    import datacore_msg

    found = pkgutil.walk_packages(datacore_msg.__path__, "datacore_msg.", onerror=_skip)
    names = [info.name for info in found]
    for name in (*STANDARD, *names):
        if any(name == cold or name.startswith(cold + ".") for cold in COLD):
            continue
        with suppress(ImportError):
            importlib.import_module(name)
    gc.collect()
    gc.freeze()


def _skip(name: str) -> None:
    """A subpackage that cannot be imported is left to the command that needs it."""


def package_files() -> dict[str, tuple[int, int]]:
    """The source files of this package that are loaded, with their modification time and size."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    stamps = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and path.startswith(root):
            stamp = _stamp(path)
            if stamp is not None:
                stamps[path] = stamp
    return stamps


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def changed(stamps: dict[str, tuple[int, int]]) -> bool:
    return any(_stamp(path) != stamp for path, stamp in stamps.items())


def serve(path: str) -> int:
    if resident.socket_path(os.environ) != path:
        return 0  # started for another interpreter's options: it could serve none of its commands
    try:
        listener = resident.Listener(path)
    except (resident.ResidentError, OSError):
        return 0
    server = None
    try:
        server = _Server(path, listener)
        server.run()
    finally:
        if server is not None:
            server.spare.drop()
        listener.close()
    return 0


class _Server:
    """The accept loop and its state: the commands' processes still running, the spare child."""

    def __init__(self, path: str, listener: resident.Listener) -> None:
        import signal

        self.path = path
        self.listener = listener
        self.children: dict[int, Any] = {}
        self.spare = _Spare()
        signal.signal(signal.SIGCHLD, lambda signum, frame: _reap(self.children, self.spare))
        for signum in (signal.SIGTERM, signal.SIGHUP):  # a clean exit: the socket file removed
            signal.signal(signum, _stop)
        warm()
        self.stamps = package_files()
        self.key = resident.key_of(os.environ)
        self.idle = resident.idle_seconds(os.environ)
        self.started = self.last = time.monotonic()
        self.served = 0
        self.ahead = 0

    def run(self) -> None:
        spare = self.spare
        while True:
            waiting = spare.pid == 0 and time.monotonic() - self.last < self.idle
            conn = self.listener.accept(SPARE_AFTER_S if waiting else min(self.idle, WAKE_S))
            _reap(self.children, spare)
            if conn is None:
                if time.monotonic() - self.last >= self.idle or not self.listener.still_ours():
                    return
                if spare.pid == 0 and not self.children:  # nothing running that it would slow down
                    spare.start(self.listener)
                continue
            self.last = time.monotonic()
            if not self.handle(conn):
                return

    def handle(self, conn: Any) -> bool:
        """Serve one connection; whether to go on serving."""
        try:
            request, fds = resident.receive_request(conn)
        except (resident.ResidentError, OSError, ValueError):
            conn.close()
            return True
        op = request.get("op")
        if op is not None:
            _close(fds)
            if op == "status":
                info: dict[str, Any] = {"pid": os.getpid(), "served": self.served, "forked_ahead": self.ahead}
                info["up_s"] = round(self.last - self.started, 1)
                _answer(conn, "I" + dumps({**info, "idle_s": self.idle, "socket": self.path}))
                return True
            if op != "stop":
                conn.close()
                return True
            _answer(conn, "S0")
            return False
        if request.get("key") != self.key:
            _close(fds)
            _answer(conn, "Rkey")
            return True
        if changed(self.stamps) or not self.listener.still_ours():
            _close(fds)
            _answer(conn, "Rstale")
            return False
        taken = self.spare.hand(conn, request, fds, self.children)
        if taken or _fork(self.listener, conn, request, fds, self.children):
            self.served += 1
            self.ahead += taken
        return True


def _fork(
    listener: resident.Listener, conn: Any, request: dict[str, Any], fds: list[int], children: dict[int, Any]
) -> bool:
    """Fork the command's process; the connection stays open here until it ends, to tell the client
    the signal that ended it (``K``) if one did. Whether it could be forked."""
    import signal

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})  # reaped only once registered
    try:
        pid = os.fork()
        if pid == 0:
            _child(listener, conn, request, fds)
        children[pid] = conn
        return True
    except OSError:
        conn.close()
        return False
    finally:
        _close(fds)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})


#: How long after the last command ended the next spare child is forked, seconds.
SPARE_AFTER_S = 0.02


class _Spare:
    """A child forked ahead of the next command, once none is running. It makes the pages it would
    otherwise copy one by one while the command runs its own (every object's reference count is
    written when the command touches it, a page fault each on a forked child: 1,800 for a
    ``send @claude``, 4-5 ms), says it is ready (``R`` on its channel) and waits. A command then
    goes to it with the descriptors of its connection and standard streams, and the fork is not on
    the command's path either. Until it is ready, commands are forked as they come."""

    def __init__(self) -> None:
        self.pid = 0
        self.chan: Any = None
        self.ready = False

    def start(self, listener: resident.Listener) -> None:
        import _socket
        import signal

        ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
        try:
            pid = os.fork()
            if pid == 0:
                ours.close()
                _wait_as_spare(listener, theirs)
            self.pid, self.chan, self.ready = pid, ours, False
        except OSError:
            ours.close()
        finally:
            theirs.close()
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})

    def hand(self, conn: Any, request: dict[str, Any], fds: list[int], children: dict[int, Any]) -> bool:
        """Give the command to the spare child if it is ready; whether it took it."""
        if not self.pid or not self._is_ready():
            return False
        import signal

        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
        try:
            resident.send_request(self.chan, request, (conn.fileno(), *fds))
        except OSError:
            self.drop()
            return False
        else:
            children[self.pid] = conn
            self.chan.close()
            self.pid, self.chan, self.ready = 0, None, False
            _close(fds)
            return True
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})

    def _is_ready(self) -> bool:
        if not self.ready:
            import _socket

            try:
                said = self.chan.recv(1, _socket.MSG_DONTWAIT)
            except BlockingIOError:
                return False
            except OSError:
                said = b""
            if said != b"R":
                self.drop()
                return False
            self.ready = True
        return True

    def ended(self, pid: int) -> None:
        """The spare child ``pid`` was reaped (it died before taking a command)."""
        if pid == self.pid:
            self.pid = 0
            self.drop()

    def drop(self) -> None:
        if self.pid:
            with suppress(OSError):
                os.kill(self.pid, 9)
        if self.chan is not None:
            self.chan.close()
        self.chan, self.ready = None, False


def _wait_as_spare(listener: resident.Listener, chan: Any) -> NoReturn:
    """The spare child: make the shared pages its own, say so, take a command (or end with the
    resident process, when its channel closes)."""
    import _socket
    import gc

    try:
        listener.close_in_child()
        gc.unfreeze()
        gc.get_objects()  # a reference to every tracked object: each one's page written once
        gc.freeze()
        chan.sendall(b"R")
        request, fds = resident.receive_request(chan, timeout=None, count=4)
    except BaseException:
        os._exit(0)
    conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, fds[0])
    chan.close()
    _child(None, conn, request, fds[1:])


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _answer(conn: Any, line: str) -> None:
    with suppress(OSError):
        resident.reply(conn, line)
    conn.close()


def _close(fds: list[int]) -> None:
    for fd in fds:
        with suppress(OSError):
            os.close(fd)


def _reap(children: dict[int, Any], spare: _Spare) -> None:
    """Collect the ended commands' processes; tell the client of one a signal ended (its own
    report, ``S``, could not be sent) which signal, so that it ends by it as the command did."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = children.pop(pid, None)
        if conn is None:
            spare.ended(pid)
            continue
        if os.WIFSIGNALED(status):
            conn.setblocking(False)
            _answer(conn, f"K{os.WTERMSIG(status)}")
        else:
            conn.close()


# -- the child: the command's process ------------------------------------------------------------


def _child(
    listener: resident.Listener | None, conn: Any, request: dict[str, Any], fds: list[int]
) -> NoReturn:
    """Become the command's process, run it, report its status; never returns. A child that cannot
    become the command's process exits before it says so (``P``), and the client runs the command
    itself."""
    try:
        _become(listener, conn, request, fds)
    except BaseException:
        os._exit(1)
    try:
        line = f"S{_run()}"
    except KeyboardInterrupt:
        line = "K2"
    except BaseException:
        line = "S1"
    _final(conn, line)


def _become(listener: resident.Listener | None, conn: Any, request: dict[str, Any], fds: list[int]) -> None:
    import signal

    if listener is not None:
        listener.close_in_child()
    for signum in (1, 3, 15, 17):  # SIGHUP, SIGQUIT, SIGTERM, SIGCHLD
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(2, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    os.chdir(request["cwd"])
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.umask(int(request.get("umask", 0o022)))
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    sys.argv = [str(arg) for arg in request["argv"]]
    _streams(request["streams"], request.get("stdin"))
    resident.reply(conn, f"P{os.getpid()}")
    if conn.recv(1) != resident.GO:
        raise resident.ResidentError("the client gave up before the command started")
    _watch(conn)


def _run() -> int:
    from datacore_msg.cli.entry import main

    try:
        result = main(resident=False)
    except SystemExit as stop:
        code = stop.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code & 0xFF
        sys.stderr.write(f"{code}\n")
        return 1
    except KeyboardInterrupt:
        raise
    except BaseException:
        import traceback

        traceback.print_exc()
        return 1
    return result & 0xFF


def _streams(described: Any, stdin: Any) -> None:
    """The standard streams over descriptors 0-2, set up as the client's were."""
    import io

    opened = []
    for fd, spec in enumerate(described):
        encoding, errors, line_buffering, write_through = spec
        if fd == 0:
            source = io.BytesIO(stdin.encode("latin-1")) if isinstance(stdin, str) else None
            binary: Any = source or open(0, "rb", closefd=False)  # noqa: SIM115 (the process's stdin)
        elif write_through:
            binary = open(fd, "wb", buffering=0, closefd=False)  # noqa: SIM115
        else:
            binary = open(fd, "wb", closefd=False)  # noqa: SIM115
        opened.append(
            io.TextIOWrapper(
                binary,
                encoding=encoding,
                errors=errors,
                line_buffering=bool(line_buffering),
                write_through=bool(write_through),
            )
        )
    sys.stdin, sys.stdout, sys.stderr = opened
    for name, stream in zip(("__stdin__", "__stdout__", "__stderr__"), opened, strict=True):
        setattr(sys, name, stream)


def _watch(conn: Any) -> None:
    """Kill this process when the client goes away, as the command dies with its process."""
    import _thread

    def watch() -> None:
        try:
            data = conn.recv(1)
        except OSError:
            data = b""
        if not data:
            os.kill(os.getpid(), 9)

    _thread.start_new_thread(watch, ())


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError, AttributeError):
            stream.flush()


def _final(conn: Any, line: str) -> NoReturn:
    import atexit

    with suppress(BaseException):
        atexit._run_exitfuncs()
    _flush()
    with suppress(OSError):
        resident.reply(conn, line)
    os._exit(0)


def main(argv: list[str]) -> int:
    """Serve on the socket ``argv[0]``. ``python -m`` put the folder it was started in first on the
    module path; children import from there no module a command of its own would not (a ``json.py``
    in the folder where the first command ran), and the process holds no folder busy."""
    if len(argv) != 1:
        return 2
    _close_inherited()
    if sys.path and sys.path[0] == os.getcwd():
        del sys.path[0]
    os.chdir("/")
    return serve(argv[0])


def _close_inherited() -> None:
    """Close every descriptor but 0-2 that the command which started this process left open: held
    here for 20 minutes, the write end of a pipe would keep its reader waiting for the end."""
    try:
        names = os.listdir("/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd")
    except OSError:
        os.closerange(3, 4096)
        return
    for name in names:
        if name.isdigit() and int(name) > 2:
            with suppress(OSError):
                os.close(int(name))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
