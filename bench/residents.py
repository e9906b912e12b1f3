"""The resident process in the benchmark: a folder of the bench's own, warm or off, checked, stopped.

Theory of operation
-------------------
The console script hands short commands to a resident process (``datacore-msg resident``), a warm
interpreter found through a socket in ``$XDG_RUNTIME_DIR/datacore-msg``; the first command that
finds none runs itself and starts one, detached. A benchmark must neither reach a resident process
of the user's own nor leave one behind, and must know which variant it timed.

* :func:`use_folder` makes ``runtime/`` (mode 0700) in the bench's temporary folder the
  ``XDG_RUNTIME_DIR`` of this process, so every environment built from ``os.environ`` carries it;
  :func:`apply` sets it (and the product's defaults: the switches unset) in an environment a figure
  builds, and :func:`cold` is the same environment with ``DATACORE_MSG_RESIDENT=off``, where every
  command runs in its own interpreter.
* :class:`Resident` is the resident process a figure's commands reach: :meth:`Resident.wait_running`
  polls ``datacore-msg resident status --json`` after the warm-up runs started it, and
  :class:`Served` reads its count of served commands (``served``; in this process, over its socket)
  after every run, so a figure can require that each timed run of a command was served by it, or
  was not (:meth:`Served.require`). The count is of the children the resident process forked: a
  child that failed before it took the command over (the client then runs it itself) would still be
  counted; that failure is not expected here, and nothing outside the product would show it.
* :func:`stop_all` stops every resident process listening in the bench's folder (asked to stop over
  its socket, then killed by pid if it has not gone within seconds); ``python -m bench`` calls it
  when the run ends, whatever ended it, and each figure that starts one stops it in a ``finally``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from datacore_msg.transport import resident

#: The environment variable that names the socket's folder's parent.
RUNTIME = "XDG_RUNTIME_DIR"
#: Seconds to wait for a resident process to answer after the warm-up runs, or to exit when stopped.
WAIT_S = 30.0
_SERVER = "datacore_msg.cli.resident_server"

#: The bench's runtime folder, once :func:`use_folder` made it.
_FOLDER: list[Path] = []


def use_folder(tmp: Path) -> Path:
    """Make ``tmp/runtime`` (0700) the runtime folder of this process and of every environment the
    bench builds; the product's defaults for the resident process (its switches unset)."""
    made = tmp / "runtime"
    made.mkdir(mode=0o700, exist_ok=True)
    made.chmod(0o700)
    _FOLDER[:] = [made]
    apply(os.environ)
    return made


def folder() -> Path:
    if not _FOLDER:
        raise RuntimeError("bench.residents.use_folder was not called: no runtime folder of the bench's own")
    return _FOLDER[0]


def apply(env: Any) -> None:
    """Point ``env`` (a dict or ``os.environ``) at the bench's runtime folder, with the resident
    process's default settings (on, the default idle time)."""
    env[RUNTIME] = str(folder())
    env.pop(resident.SWITCH, None)
    env.pop(resident.IDLE_SWITCH, None)


def cold(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with the resident process switched off: every command in its own interpreter."""
    off = dict(env)
    off[resident.SWITCH] = "off"
    return off


def _check_env(env: Mapping[str, str]) -> None:
    if env.get(RUNTIME) != str(folder()) or resident.switched_off(env):
        raise RuntimeError(f"not the bench's runtime folder with the resident process on: {env.get(RUNTIME)}")


class Resident:
    """The resident process that ``cli`` reaches with ``env`` (the bench's folder, switch on)."""

    def __init__(self, cli: Sequence[str], env: Mapping[str, str]) -> None:
        _check_env(env)
        self.cli = list(cli)
        self.env = dict(env)
        self.socket: str | None = None
        self.pid: int | None = None

    def status(self) -> dict[str, Any]:
        """``datacore-msg resident status --json``'s data."""
        argv = [*self.cli, "resident", "status", "--json"]
        proc = subprocess.run(argv, env=self.env, capture_output=True, check=False, timeout=60)
        if proc.returncode != 0:
            err = proc.stderr.decode(errors="replace")
            raise RuntimeError(f"resident status exited {proc.returncode}: {err}")
        data: dict[str, Any] = json.loads(proc.stdout)["data"]
        return data

    def wait_running(self) -> dict[str, Any]:
        """Wait until ``resident status --json`` says running (the warm-up runs started it)."""
        deadline = time.monotonic() + WAIT_S
        while True:
            info = self.status()
            if info["running"]:
                self.socket, self.pid = str(info["socket"]), int(info["pid"])
                if not self.socket.startswith(str(folder()) + os.sep):
                    raise RuntimeError(f"a resident process outside the bench's folder: {self.socket}")
                return info
            if time.monotonic() > deadline:
                raise RuntimeError(f"no resident process running {WAIT_S:g} s after the warm-up runs")
            time.sleep(0.05)

    def count(self) -> tuple[int, int] | None:
        """(pid, commands served) of the process on the socket, or None when none answers."""
        if self.socket is None:
            raise RuntimeError("wait_running first")
        answer = resident.ask(self.socket, "status")
        if answer is None or not answer.startswith("I"):
            return None
        info = json.loads(answer[1:])
        return int(info["pid"]), int(info["served"])

    def stop(self) -> None:
        """``datacore-msg resident stop``, then wait for the process to be gone (killed if it stays)."""
        argv = [*self.cli, "resident", "stop"]
        subprocess.run(argv, env=self.env, capture_output=True, check=False, timeout=60)
        if self.pid is not None and self.socket is not None:
            _wait_gone({self.pid: self.socket})


class Served:
    """Which runs the resident process served: its count of served commands after every run."""

    def __init__(self, target: Resident) -> None:
        self.target = target
        self.last: tuple[int, int] | None = None
        self.started = False
        #: Per variant, for each timed run: how many commands the same resident process served
        #: during it (None: the process was gone or another one answered afterwards).
        self.deltas: dict[Any, list[int | None]] = {}

    def start(self) -> None:
        """From now on (the resident process running), :meth:`note` after every run."""
        self.last = self.target.count()
        if self.last is None:
            raise RuntimeError("the resident process stopped answering")
        self.started = True

    def note(self, key: Any, timed: bool) -> None:
        """After each run of the rounds (every variant, timed or not), once :meth:`start` ran."""
        if not self.started:
            return
        now = self.target.count()
        if timed:
            same = now is not None and self.last is not None and now[0] == self.last[0]
            delta = now[1] - self.last[1] if same and now is not None and self.last is not None else None
            self.deltas.setdefault(key, []).append(delta)
        self.last = now

    def served(self, key: Any) -> int:
        return sum(1 for delta in self.deltas.get(key, []) if delta == 1)

    def require(self, key: Any, served: bool, what: str) -> int:
        """Raise unless every timed run of ``key`` was served by the resident process (``served``) or
        every one ran without it; the number of timed runs checked."""
        deltas = self.deltas.get(key, [])
        if not deltas:
            raise RuntimeError(f"{what}: no timed run was checked against the resident process")
        wanted = 1 if served else 0
        wrong = [delta for delta in deltas if delta != wanted]
        if wrong:
            how = "served by the resident process" if served else "run without the resident process"
            raise RuntimeError(
                f"{what}: {len(wrong)} of {len(deltas)} timed runs were not {how} (served counts "
                f"during them: {wrong[:10]}), so the figure would measure something else"
            )
        return len(deltas)


def _alive(pid: int, socket: str) -> bool:
    """Whether ``pid`` is still the resident process serving ``socket`` (not a reused pid)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return False
        return True
    return _SERVER.encode() in argv and socket.encode() in argv


def _wait_gone(pids: Mapping[int, str]) -> list[int]:
    """Wait for each resident process to exit; kill the ones still there after :data:`WAIT_S`.
    The pids that had to be killed."""
    deadline = time.monotonic() + WAIT_S
    left = dict(pids)
    while left and time.monotonic() < deadline:
        left = {pid: sock for pid, sock in left.items() if _alive(pid, sock)}
        if left:
            time.sleep(0.05)
    killed = []
    for pid, sock in left.items():
        if _alive(pid, sock):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    return killed


def _listed(sockets: Path) -> dict[int, str]:
    """Resident processes whose socket is in ``sockets``, from ``/proc`` (empty without it)."""
    found: dict[int, str] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    prefix = str(sockets) + os.sep
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        except OSError:
            continue
        last = argv[-1].decode(errors="replace")
        if len(argv) >= 2 and _SERVER.encode() in argv and last.startswith(prefix):
            found[int(entry.name)] = last
    return found


def stop_all() -> list[int]:
    """Stop every resident process of the bench's folder (asked over its socket, killed by pid if it
    stays); the pids stopped. A no-op before :func:`use_folder`."""
    if not _FOLDER:
        return []
    sockets = Path(resident.folder_of({RUNTIME: str(_FOLDER[0])}))
    if not sockets.is_dir():
        return []
    pids = _listed(sockets)
    for path in sorted(sockets.glob("*.sock")):
        answer = resident.ask(str(path), "status")
        if answer is not None and answer.startswith("I"):
            pids.setdefault(int(json.loads(answer[1:])["pid"]), str(path))
        resident.ask(str(path), "stop")
    _wait_gone(pids)
    left = _listed(sockets)
    if left:
        raise RuntimeError(f"resident processes still running after being stopped and killed: {sorted(left)}")
    return sorted(pids)


def trackers(
    cli: Sequence[str], steady: Mapping[str, str], inherited: Mapping[str, str]
) -> tuple[Served, Served]:
    """What figures 4 and 6 watch: the goal environment's resident process, and the inherited
    environment's, which is another one (``PYTHONDONTWRITEBYTECODE`` sets the interpreter flag
    ``-B``, part of the resident process's key)."""
    return Served(Resident(cli, steady)), Served(Resident(cli, inherited))


def stop_trackers(*watched: Served) -> None:
    for served in watched:
        served.target.stop()
