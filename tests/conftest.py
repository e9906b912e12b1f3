"""Shared fixtures: real installations (settings, key, SQLite file, views) in temporary folders.

``make_installation("gregor")`` runs the real ``init`` for a new root whose state folder is inside the
test's tmp dir. ``inst.cli(...)`` runs the CLI in-process (through ``main``, the real error boundary);
``inst.run(...)`` runs it as a separate process (``python -m datacore_msg``), as a user or Claude Code
would.

What makes the suite fast without changing what it checks:

* The event log an ``init`` creates is the same file for every installation of one user: every
  migration applied to an empty log. It is made once per worker by a real ``init`` and copied into
  each new state folder before that installation's own real ``init`` runs, which then finds its log
  up to date (the fast path every later command takes) and does everything else itself: settings,
  folders, a new signing key, the first views. ``tests/test_fixtures.py`` checks that such an
  installation is the same as one made from nothing.
* Temporary folders go to ``/dev/shm`` (memory, where ``fsync`` costs nothing) when it is a
  writable, executable tmpfs with room to spare and ``TMPDIR`` is not set; set ``TMPDIR`` to choose.
* Every test gets its own ``XDG_CACHE_HOME`` / ``XDG_STATE_HOME`` and no ``DATACORE_ROOT``, so
  nothing is read from or written to the home folder, and parallel workers share nothing.
* ``relay`` is a real relay process on a free loopback port (``tests/relayproc.py``), closed after
  the test.
* Tests marked ``emacs`` skip, saying why, when ``emacs`` is not on PATH.
"""

from __future__ import annotations

import io
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from datacore_msg.app.setup import init
from datacore_msg.app.space import Space, open_space
from datacore_msg.cli.main import main
from relayproc import RelayProcess

SRC = Path(__file__).resolve().parents[1] / "src"
#: Commands with subcommands: ``--root`` goes after the subcommand's name.
GROUPS = frozenset({"task", "contacts", "hook"})
#: Free space /dev/shm must have to hold the suite's temporary folders.
TMPFS_MIN_FREE = 2 << 30
EMACS_MISSING = "emacs is not on PATH (install emacs-nox to run the org-mode checks)"


def _memory_tmpdir() -> str | None:
    """``/dev/shm`` when it can hold the tests' temporary folders: a writable tmpfs that allows
    executables (some tests run scripts they write) with room to spare; else None."""
    folder = "/dev/shm"
    try:
        stat = os.statvfs(folder)
    except OSError:
        return None
    noexec = getattr(os, "ST_NOEXEC", 0)
    if stat.f_flag & (os.ST_RDONLY | noexec) or stat.f_bavail * stat.f_frsize < TMPFS_MIN_FREE:
        return None
    return folder if os.access(folder, os.W_OK | os.X_OK) else None


def pytest_configure(config: pytest.Config) -> None:
    # Commands run in their own processes unless a test hands them to a resident process
    # (tests/cli/test_resident.py); DATACORE_MSG_RESIDENT=on runs the whole suite through one.
    os.environ.setdefault("DATACORE_MSG_RESIDENT", "off")
    # Before pytest (and pytest-xdist, for its workers) picks the base temporary folder; the
    # workers inherit TMPDIR.
    if config.option.basetemp is None and not os.environ.get("TMPDIR"):
        folder = _memory_tmpdir()
        if folder is not None:
            os.environ["TMPDIR"] = folder
            tempfile.tempdir = None  # forget the cached default


def pytest_report_header(config: pytest.Config) -> str:
    return f"temporary folders: {tempfile.gettempdir()} (set TMPDIR to choose)"


def _long(item: pytest.Item) -> bool:
    """Property tests (tens to hundreds of examples each) and the slow ones: the longest there are."""
    property_test = getattr(getattr(item, "function", None), "is_hypothesis_test", False)
    return bool(property_test) or item.get_closest_marker("slow") is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "PYTEST_XDIST_WORKER" in os.environ:
        # Longest first, so no worker is left with one of them while the others have finished.
        items.sort(key=lambda item: not _long(item))
    skip_emacs = None if shutil.which("emacs") else pytest.mark.skip(reason=EMACS_MISSING)
    for item in items:
        if item.get_closest_marker("emacs") is None:
            continue
        if skip_emacs is not None:
            item.add_marker(skip_emacs)
        elif config.pluginmanager.has_plugin("xdist"):
            # One worker runs them all, so a module's Emacs report is made once.
            item.add_marker(pytest.mark.xdist_group("emacs"))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and config.option.markexpr == "not slow":
        terminalreporter.write_line(
            'no test ran: the default run leaves out the tests marked slow; add -m slow (or -m "")'
        )


@attrs.frozen
class Result:
    code: int
    out: str
    err: str


@attrs.define
class Installation:
    name: str
    root: Path
    state: Path
    space_name: str = "0-personal"

    @property
    def views(self) -> Path:
        return self.root / self.space_name / "org" / "messaging"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DATACORE_ROOT"] = str(self.root)
        env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
        env.pop("DATACORE_MSG_STATE", None)
        return env

    def cli(self, *args: str, stdin: bytes = b"") -> Result:
        """Run the CLI in this process, through ``main`` (the real error boundary)."""
        cut = 2 if args and args[0] in GROUPS and len(args) > 1 else 1
        argv = [*args[:cut], "--root", str(self.root), *args[cut:]] if args else []
        out, err = io.StringIO(), io.StringIO()
        fake_in = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
        saved = sys.stdout, sys.stderr, sys.stdin
        sys.stdout, sys.stderr, sys.stdin = out, err, fake_in
        try:
            code = main(argv)
        finally:
            sys.stdout, sys.stderr, sys.stdin = saved
        return Result(code, out.getvalue(), err.getvalue())

    def run(self, *args: str, stdin: bytes | None = None, timeout: float = 120) -> Result:
        """Run the CLI as its own process."""
        proc = subprocess.run(
            [sys.executable, "-m", "datacore_msg", *args],
            input=stdin,
            capture_output=True,
            env=self.env(),
            timeout=timeout,
            check=False,
        )
        return Result(
            proc.returncode,
            proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"),
        )

    def space(self, clock: Callable[[], int] | None = None) -> Space:
        if clock is None:
            return open_space(str(self.root))
        return open_space(str(self.root), clock=clock)

    def read(self, name: str) -> str:
        return (self.views / name).read_text(encoding="utf-8")

    @property
    def public_key(self) -> str:
        with self.space() as space:
            return space.signing_key().public_hex

    def pin(self, other: Installation, tier: str = "team") -> None:
        """Pin ``other``'s key under its user name in this installation's contacts.yaml."""
        result = self.cli("contacts", "add", other.name, other.public_key, "--tier", tier)
        assert result.code == 0, result.err


def _introduce(*installations: Installation, tier: str = "team") -> None:
    """Every installation pins every other one's key (what a team does with ``whoami``)."""
    for one in installations:
        for other in installations:
            if other is not one:
                one.pin(other, tier)


@pytest.fixture
def introduce() -> Callable[..., None]:
    return _introduce


_user_dirs = itertools.count()


@pytest.fixture(scope="session")
def _user_dirs_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("user-dirs")


@pytest.fixture(autouse=True)
def _isolated_user_dirs(_user_dirs_base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's installation or writes the hook's cache and log into the home
    folder; tests that set these themselves still do."""
    own = _user_dirs_base / str(next(_user_dirs))
    monkeypatch.setenv("XDG_CACHE_HOME", str(own / "cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(own / "state"))
    monkeypatch.delenv("DATACORE_ROOT", raising=False)
    monkeypatch.delenv("DATACORE_MSG_STATE", raising=False)


@attrs.frozen
class _Template:
    state: Path
    key_file: Path  # relative to ``state``


@pytest.fixture(scope="session")
def _templates(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., _Template]:
    """A state folder made by a real ``init``, once per user, space, time zone and options."""
    base = tmp_path_factory.mktemp("init-templates")
    made: dict[tuple[Any, ...], _Template] = {}

    def template(name: str, space: str, tz: str, kw: dict[str, Any]) -> _Template:
        key = (name, space, tz, tuple(sorted(kw.items())))
        if key not in made:
            folder = base / str(len(made))
            result = init(name, space, tz, str(folder / "root"), state_dir=str(folder / "state"), **kw)
            made[key] = _Template(folder / "state", result.paths.key_file.relative_to(folder / "state"))
        return made[key]

    return template


def _seed_state(template: _Template, state: Path) -> None:
    """Copy the template's state folder (its up-to-date log) to ``state``, but not its key."""
    key_folder = template.state / template.key_file.parent

    def skip_key(folder: str, names: list[str]) -> list[str]:
        return [template.key_file.name] if Path(folder) == key_folder else []

    shutil.copytree(template.state, state, ignore=skip_key)


@pytest.fixture
def make_installation(
    tmp_path: Path, _templates: Callable[..., _Template]
) -> Iterator[Callable[..., Installation]]:
    made: list[Installation] = []

    def factory(name: str, tz: str = "UTC", label: str | None = None, **kw: Any) -> Installation:
        base = tmp_path / (label or name)
        inst = Installation(name=name, root=base / "root", state=base / "state")
        _seed_state(_templates(name, inst.space_name, tz, kw), inst.state)
        init(name, inst.space_name, tz, str(inst.root), state_dir=str(inst.state), **kw)
        made.append(inst)
        return inst

    yield factory


@pytest.fixture
def gregor(make_installation: Callable[..., Installation]) -> Installation:
    return make_installation("gregor", tz="Europe/Ljubljana")


@pytest.fixture
def tex(make_installation: Callable[..., Installation]) -> Installation:
    return make_installation("tex", tz="UTC")


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[RelayProcess]:
    proc = RelayProcess(tmp_path / "relay-data").start()
    yield proc
    proc.close()
