"""The resident process's socket: how a command hands itself to an interpreter that is already warm.

Theory of operation
-------------------
Starting Python and importing the package costs a ``send`` several times the work the send does.
A resident process (:mod:`datacore_msg.cli.resident_server`) imports the package once and waits on
a Unix socket. A command (:mod:`datacore_msg.cli.resident_client`) connects and sends one request:
its arguments, working folder, environment, umask and how its standard streams are set up, with
its three standard file descriptors attached (``SCM_RIGHTS``). The resident process forks a child
that takes those descriptors as its own, adopts the request's environment and folder, and runs
the command exactly as the client would have: the same code, writing to the same terminal or pipe,
reading the same standard input. The child answers on the connection with ``P<pid>`` at once and
waits for the client's go-ahead (``G``: from then on the client passes signals on to that pid and
will not run the command itself) and, at the end, ``S<status>`` (the exit status) or
``K<signal>`` (the command was interrupted by that signal: sent by the child for Ctrl-C, by the
resident process, which keeps its end of the connection until it reaps the child, when a signal
killed it). A child whose client goes away (killed) kills itself, as the command would have died
with its process. A client has :data:`REQUEST_TIMEOUT_S` to send its request after it connected.

The socket's name comes from what the interpreter fixed when it started (its path, prefix,
version and flags, and the environment variables Python reads at start-up: locale, ``PYTHONPATH``
...), so every installation of Python, every virtual environment and every locale has its own
resident process; the resident process compares the client's whole key with its own before it
serves. It is started with the client's environment and :func:`interpreter_options`, so its key is
the client's.

Only the user may reach it: the socket's folder is the user's, mode 0700, not a symbolic link
(:func:`safe_folder`, checked by both sides), and the resident process serves only a peer whose
uid is its own (``SO_PEERCRED``). It holds nothing a command does not read anew: each child
reads the settings, the signing key and the log from disk, as a fresh process does.

This module is the wire only (no printing, no exiting); what runs in the child is the CLI's.
"""

from __future__ import annotations

import _socket
import os
import sys

from datacore_msg.jsontext import dumps, loads

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

#: Set to ``off`` (or ``0``, ``no``, ``false``) to run every command in its own process only.
SWITCH = "DATACORE_MSG_RESIDENT"
#: Seconds a resident process waits for a command before it exits (default :data:`IDLE_S`).
IDLE_SWITCH = "DATACORE_MSG_RESIDENT_IDLE"
IDLE_S = 1200.0
#: The environment variables Python reads when it starts; a resident process serves only clients
#: whose values are its own.
KEY_VARIABLES = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSAFEPATH",
    "PYTHONUTF8",
    "PYTHONIOENCODING",
    "PYTHONWARNINGS",
    "PYTHONDEVMODE",
    "PYTHONHASHSEED",
    "PYTHONINTMAXSTRDIGITS",
    "LC_ALL",
    "LC_CTYPE",
    "LANG",
)
#: The client's go-ahead once it knows the child's pid: a child runs its command only after it, so
#: a client that gave up waiting (and runs the command itself) never has it run twice.
GO = b"G"
#: How long a client waits for a child's pid before it runs the command itself, seconds.
START_TIMEOUT_S = 10.0
#: How long the resident process waits for a request once a client connected, seconds: a client
#: sends it at once, and one that does not (stopped, hostile) must not hold up the others.
REQUEST_TIMEOUT_S = 1.0
#: The interpreter's flags and the options that set them (see :func:`interpreter_options`).
LETTERS = (
    ("dont_write_bytecode", "B"),
    ("no_user_site", "s"),
    ("safe_path", "P"),
    ("bytes_warning", "b"),
    ("verbose", "v"),
    ("quiet", "q"),
    ("debug", "d"),
)
#: A request's largest size (arguments and environment), bytes.
MAX_REQUEST = 1 << 20
_HEADER = 4
_FDS = 3


class ResidentError(Exception):
    """A request that could not be read or was not one (the connection is dropped)."""


def switched_off(env: Mapping[str, str]) -> bool:
    return env.get(SWITCH, "").strip().lower() in ("off", "0", "no", "false")


def idle_seconds(env: Mapping[str, str]) -> float:
    text = env.get(IDLE_SWITCH, "")
    try:
        value = float(text)
    except ValueError:
        return IDLE_S
    return value if 0 < value < 1e9 else IDLE_S


def key_of(env: Mapping[str, str]) -> str:
    """What a resident process and its client must share (see the theory above)."""
    fixed = (os.path.realpath(sys.executable), sys.prefix, sys.version, repr(tuple(sys.flags)))
    return "\0".join((*fixed, *(env.get(name, "\x01") for name in KEY_VARIABLES)))


def interpreter_options() -> list[str]:
    """The command-line options that give a new interpreter this one's :data:`sys.flags` (its
    environment gives it the rest of :func:`key_of`)."""
    flags = sys.flags
    options = ["-" + "O" * flags.optimize] if flags.optimize else []
    for name, letter in LETTERS:
        count = int(getattr(flags, name, 0))
        if count > 0:
            options.append("-" + letter * count)
    if flags.dev_mode:
        options += ["-X", "dev"]
    if flags.utf8_mode:
        options += ["-X", "utf8"]
    if getattr(flags, "warn_default_encoding", 0):
        options += ["-X", "warn_default_encoding"]
    digits = getattr(flags, "int_max_str_digits", -1)
    if digits >= 0:
        options += ["-X", f"int_max_str_digits={digits}"]
    return options


def folder_of(env: Mapping[str, str]) -> str:
    """Where the sockets live: ``$XDG_RUNTIME_DIR/datacore-msg``, else ``$TMPDIR/datacore-msg-<uid>``."""
    runtime = env.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime):
        return os.path.join(runtime, "datacore-msg")
    base = env.get("TMPDIR", "")
    return os.path.join(base if os.path.isabs(base) else "/tmp", f"datacore-msg-{os.getuid()}")


def socket_path(env: Mapping[str, str]) -> str:
    from binascii import crc32

    digest = crc32(key_of(env).encode("utf-8", "surrogatepass"))
    return os.path.join(folder_of(env), f"{digest:08x}.sock")


def safe_folder(path: str, create: bool) -> bool:
    """Whether ``path`` is a folder only this user can enter (made so when ``create``)."""
    if create:
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError:
            return False
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return (st.st_mode & 0o170000) == 0o040000 and st.st_uid == os.getuid() and not st.st_mode & 0o077


# -- the client's side -------------------------------------------------------------------------


def connect(path: str) -> Any:
    """A connection to the resident process at ``path``, or None when none answers there."""
    if not safe_folder(os.path.dirname(path), create=False):
        return None
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    return sock


def send_request(sock: Any, request: Mapping[str, Any], fds: tuple[int, ...]) -> None:
    body = dumps(request).encode("ascii")
    data = len(body).to_bytes(_HEADER, "big") + body
    rights = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds)
    sent = sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
    if sent < len(data):
        sock.sendall(data[sent:])


class Replies:
    """The child's lines on a connection, one at a time."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.pending = b""

    def next(self) -> str | None:
        """The next line, or None when the connection ended first."""
        while b"\n" not in self.pending:
            chunk = self.sock.recv(256)
            if not chunk:
                return None
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return line.decode("ascii", "replace")


# -- the resident process's side ----------------------------------------------------------------


class Listener:
    """The resident process's socket. Only one process listens on a path: the one holding the lock
    beside it (``<path>.lock``) for its whole life; a socket file left by a process that died is
    replaced."""

    def __init__(self, path: str) -> None:
        import fcntl
        from contextlib import suppress

        if not safe_folder(os.path.dirname(path), create=True):
            raise ResidentError(f"{os.path.dirname(path)}: not a folder only this user can enter")
        self.path = path
        self.lock_fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.lock_fd)
            raise ResidentError(f"{path}: another resident process is serving") from None
        with suppress(FileNotFoundError):
            os.unlink(path)
        self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        self.sock.bind(path)
        self.identity = _identity(path)
        self.sock.listen(64)

    def accept(self, timeout: float) -> Any:
        """The next connection from this user, or None when none came within ``timeout`` seconds."""
        self.sock.settimeout(timeout)
        try:
            fd, _ = self.sock._accept()  # type: ignore[attr-defined]  # _socket's: a plain fd
        except TimeoutError:
            return None
        conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, fd)
        conn.settimeout(None)
        if peer_uid(conn) != os.getuid():
            conn.close()
            return None
        return conn

    def still_ours(self) -> bool:
        """Whether the socket file is still the one this process bound (not removed or replaced)."""
        return _identity(self.path) == self.identity

    def close(self) -> None:
        if self.still_ours():
            from contextlib import suppress

            with suppress(OSError):
                os.unlink(self.path)
        self.sock.close()
        os.close(self.lock_fd)

    def close_in_child(self) -> None:
        """A forked child's copy: closed without touching the socket file."""
        self.sock.close()
        os.close(self.lock_fd)


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def peer_uid(conn: Any) -> int:
    raw = conn.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
    return int.from_bytes(raw[4:8], sys.byteorder)


def receive_request(
    conn: Any, timeout: float | None = REQUEST_TIMEOUT_S, count: int = _FDS
) -> tuple[dict[str, Any], list[int]]:
    """The request on ``conn`` and the ``count`` descriptors that came with it (closed again if the
    request is not one), read within ``timeout`` seconds (``TimeoutError`` else; None: no limit);
    ``conn`` blocks again afterwards."""
    from time import monotonic

    deadline = None if timeout is None else monotonic() + timeout
    fds: list[int] = []
    conn.settimeout(timeout)
    try:
        data, ancillary, _, _ = conn.recvmsg(65536, _socket.CMSG_SPACE(count * 4))
        for level, kind, payload in ancillary:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                whole = len(payload) - len(payload) % 4
                fds += [
                    int.from_bytes(payload[i : i + 4], sys.byteorder, signed=True) for i in range(0, whole, 4)
                ]
        if len(fds) != count or len(data) < _HEADER:
            raise ResidentError(f"a request without its {count} descriptors or its length")
        size = int.from_bytes(data[:_HEADER], "big")
        if size > MAX_REQUEST:
            raise ResidentError(f"a request of {size} bytes (at most {MAX_REQUEST})")
        body = data[_HEADER:]
        while len(body) < size:
            conn.settimeout(None if deadline is None else max(deadline - monotonic(), 1e-3))
            chunk = conn.recv(min(65536, size - len(body)))
            if not chunk:
                raise ResidentError("a request cut short")
            body += chunk
        request = loads(body[:size].decode("ascii"))
        if not isinstance(request, dict):
            raise ResidentError("a request that is not an object")
    except (ResidentError, ValueError, OSError):
        for fd in fds:
            os.close(fd)
        raise
    finally:
        conn.settimeout(None)
    return request, fds


def reply(conn: Any, line: str) -> None:
    conn.sendall(line.encode("ascii") + b"\n")


def ask(path: str, op: str) -> str | None:
    """``status`` or ``stop`` of the resident process at ``path``: its one-line answer, or None
    when none answers there."""
    sock = connect(path)
    if sock is None:
        return None
    try:
        sock.settimeout(5.0)
        send_request(sock, {"op": op}, (0, 1, 2))
        return Replies(sock).next()
    except OSError:
        return None
    finally:
        sock.close()
