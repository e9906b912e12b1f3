"""Shared fixtures: real installations (settings, key, SQLite file, views) in temporary folders.

``make_installation("gregor")`` runs the real ``init`` for a new root whose state folder is inside the
test's tmp dir. ``inst.cli(...)`` runs the CLI in-process (through ``main``, the real error boundary);
``inst.run(...)`` runs it as a separate process (``python -m datacore_msg``), as a user or Claude Code
would.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from datacore_msg.app.setup import init
from datacore_msg.app.space import Space, open_space
from datacore_msg.cli.main import main

SRC = Path(__file__).resolve().parents[1] / "src"
#: Commands with subcommands: ``--root`` goes after the subcommand's name.
GROUPS = frozenset({"task", "contacts", "hook"})


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


@pytest.fixture
def make_installation(tmp_path: Path) -> Iterator[Callable[..., Installation]]:
    made: list[Installation] = []

    def factory(name: str, tz: str = "UTC", label: str | None = None, **kw: Any) -> Installation:
        base = tmp_path / (label or name)
        inst = Installation(name=name, root=base / "root", state=base / "state")
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
