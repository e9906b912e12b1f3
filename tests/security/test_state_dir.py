"""Attack (or accident): a relative ``messaging.state_dir`` splits one installation in many.

A relative state folder in the root's settings (``state_dir: state``, as a settings file copied
from elsewhere or edited by hand would have it) was resolved against the working directory: each
directory a command ran in got a signing key and an event log of its own (a second identity, a log
missing what the first one holds), and even a failing command left folders there. Run as a user
does, as processes in different working directories with one ``DATACORE_ROOT``: one key, one log,
under the root; nothing is created in the working directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

SRC = Path(__file__).resolve().parents[2] / "src"


def run(root: Path, cwd: Path, *args: str, state_env: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(
        DATACORE_ROOT=str(root),
        PYTHONPATH=str(SRC) + os.pathsep + env.get("PYTHONPATH", ""),
        XDG_state_HOME=str(root.parent / "xdg-state"),  # the default, were the setting ignored
    )
    env.pop("DATACORE_MSG_STATE", None)
    if state_env is not None:
        env["DATACORE_MSG_STATE"] = state_env
    return subprocess.run(
        [sys.executable, "-m", "datacore_msg", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, (proc.args, proc.stdout, proc.stderr)
    return proc


def data(proc: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(proc).stdout)["data"]


def test_relative_state_dir_is_resolved_against_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    settings = root / ".datacore" / "settings.local.yaml"
    settings.parent.mkdir(parents=True)
    settings.write_text(
        yaml.safe_dump(
            {
                "identity": {"name": "gregor", "timezone": "UTC"},
                "messaging": {"default_space": "0-personal", "state_dir": "state"},
            }
        ),
        encoding="utf-8",
    )
    here, there, elsewhere = (tmp_path / name for name in ("here", "there", "elsewhere"))
    for folder in (here, there, elsewhere):
        folder.mkdir()

    ok(run(root, here, "init", "--name", "gregor", "--timezone", "UTC"))
    assert (root / "state" / "signing.key").is_file()
    key_here = data(run(root, here, "whoami", "--json"))["public_key"]
    key_there = data(run(root, there, "whoami", "--json"))["public_key"]
    assert key_here == key_there

    sent = data(run(root, here, "send", "@gregor", "one log for the root", "--json"))
    inbox = data(run(root, there, "inbox", "--json"))
    assert [item["id"] for item in inbox] == [sent["id"]]
    assert (root / "state" / "spaces" / "0-personal" / "events.sqlite3").is_file()

    # A failing command, run from yet another folder, creates nothing there.
    failed = run(root, elsewhere, "show", "msg-20250101-000000-deadbeef")
    assert failed.returncode == 4, failed.stderr
    assert failed.stderr.count("\n") == 1
    for folder in (here, there, elsewhere):
        assert list(folder.iterdir()) == [], folder
    assert not (tmp_path / "xdg-state").exists()


def test_relative_state_env_is_resolved_against_the_root(tmp_path: Path) -> None:
    """``$DATACORE_MSG_STATE`` relative (set once in a shell profile) is read the same way."""
    root = tmp_path / "root"
    cwd_a, cwd_b = tmp_path / "a", tmp_path / "b"
    cwd_a.mkdir()
    cwd_b.mkdir()
    state = ".datacore-state"
    ok(run(root, cwd_a, "init", "--name", "tex", "--timezone", "UTC", state_env=state))
    key_a = data(run(root, cwd_a, "whoami", "--json", state_env=state))["public_key"]
    key_b = data(run(root, cwd_b, "whoami", "--json", state_env=state))["public_key"]
    assert key_a == key_b
    assert (root / ".datacore-state" / "signing.key").is_file()
    assert list(cwd_a.iterdir()) == [] and list(cwd_b.iterdir()) == []
