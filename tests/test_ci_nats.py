"""The JetStream tests cannot pass CI by being skipped: ``.ci/run`` installs nats-server the tolerant
way (``.ci/install-nats``) and sets ``DATACORE_REQUIRE_NATS=1``; with it (or ``CI``) set a missing
nats-server fails the test, without it the test is skipped saying how to install it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import natsserver

REPO = Path(__file__).resolve().parent.parent
INSTALL = REPO / ".ci" / "install-nats"


def test_the_ci_run_installs_nats_and_requires_its_tests() -> None:
    run = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert ".ci/install-nats\n" in run
    assert "export DATACORE_REQUIRE_NATS=1\n" in run
    assert run.index("export DATACORE_REQUIRE_NATS=1") < run.index("python -m pytest")
    assert os.access(INSTALL, os.X_OK)


def _missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(natsserver, "DEBIAN_PATH", tmp_path / "no-nats-server")


@pytest.mark.parametrize("flag", [("CI", "true"), ("DATACORE_REQUIRE_NATS", "1")])
def test_under_ci_a_missing_nats_server_fails_the_test(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, flag: tuple[str, str]
) -> None:
    _missing(monkeypatch, tmp_path)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("DATACORE_REQUIRE_NATS", raising=False)
    monkeypatch.setenv(*flag)
    with pytest.raises(pytest.fail.Exception, match=r"nats-server is not installed .* CI requires them"):
        natsserver.nats_server_path()


def test_elsewhere_a_missing_nats_server_skips_saying_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _missing(monkeypatch, tmp_path)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("DATACORE_REQUIRE_NATS", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"apt-get install nats-server"):
        natsserver.nats_server_path()
