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
    try:
        import signal

        children: dict[int, Any] = {}
        signal.signal(signal.SIGCHLD, lambda signum, frame: _reap(children))
        for signum in (signal.SIGTERM, signal.SIGHUP):  # a clean exit: the socket file removed
            signal.signal(signum, _stop)
        warm()
        stamps = package_files()
        key = resident.key_of(os.environ)
        idle = resident.idle_seconds(os.environ)
        started = last = time.monotonic()
        served = 0
        while True:
            conn = listener.accept(min(idle, WAKE_S))
            _reap(children)
            if conn is None:
                if time.monotonic() - last >= idle or not listener.still_ours():
                    return 0
                continue
            last = time.monotonic()
            try:
                request, fds = resident.receive_request(conn)
            except (resident.ResidentError, OSError, ValueError):
                conn.close()
                continue
            op = request.get("op")
            if op is not None:
                _close(fds)
                if op == "status":
                    info = {"pid": os.getpid(), "served": served, "up_s": round(last - started, 1)}
                    _answer(conn, "I" + dumps({**info, "idle_s": idle, "socket": path}))
                    continue
                if op != "stop":
                    conn.close()
                    continue
                _answer(conn, "S0")
                return 0
            if request.get("key") != key:
                _close(fds)
                _answer(conn, "Rkey")
                continue
            if changed(stamps) or not listener.still_ours():
                _close(fds)
                _answer(conn, "Rstale")
                return 0
            if _fork(listener, conn, request, fds, children):
                served += 1
    finally:
        listener.close()


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


def _reap(children: dict[int, Any]) -> None:
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
            continue
        if os.WIFSIGNALED(status):
            conn.setblocking(False)
            _answer(conn, f"K{os.WTERMSIG(status)}")
        else:
            conn.close()


# -- the child: the command's process ------------------------------------------------------------


def _child(listener: resident.Listener, conn: Any, request: dict[str, Any], fds: list[int]) -> NoReturn:
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


def _become(listener: resident.Listener, conn: Any, request: dict[str, Any], fds: list[int]) -> None:
    import signal

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
