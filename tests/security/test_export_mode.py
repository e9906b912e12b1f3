"""Attack: read a teammate's whole log from the export file they left lying around.

``export FILE`` writes every event of the space (every message and task text). The log itself is
0600; an export written with the umask (0644 under the usual 022) is readable by every account on
the machine and by whatever syncs the folder. Run as the user does, as a process under umask 022:
the file (new, replacing an older world-readable one, or over a stale temporary file) is 0600.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def run_with_umask(inst: Any, *args: str, umask: int = 0o022) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "datacore_msg", *args],
        capture_output=True,
        env=inst.env(),
        timeout=120,
        check=False,
        preexec_fn=lambda: os.umask(umask),
    )


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_export_file_is_private_whatever_the_umask(
    make_installation: Callable[..., Any], tmp_path: Path
) -> None:
    gregor = make_installation("gregor")
    sent = gregor.run("send", "@gregor", "salary figures: confidential")
    assert sent.code == 0, sent

    fresh = tmp_path / "fresh.jsonl"
    proc = run_with_umask(gregor, "export", str(fresh))
    assert proc.returncode == 0, proc.stderr
    assert b"confidential" in fresh.read_bytes()
    assert mode_of(fresh) == 0o600

    # An older export the user had made world-readable is replaced by a private one.
    old = tmp_path / "old.jsonl"
    old.write_text("stale\n", encoding="utf-8")
    old.chmod(0o644)
    proc = run_with_umask(gregor, "export", str(old), umask=0)
    assert proc.returncode == 0, proc.stderr
    assert mode_of(old) == 0o600
    assert b"confidential" in old.read_bytes()

    # A stale temporary file another account could read is not reused with its mode.
    target = tmp_path / "again.jsonl"
    stale = tmp_path / ".again.jsonl.partial"
    stale.write_text("", encoding="utf-8")
    stale.chmod(0o666)
    proc = run_with_umask(gregor, "export", str(target), umask=0)
    assert proc.returncode == 0, proc.stderr
    assert mode_of(target) == 0o600
    assert not stale.exists()


def test_export_does_not_follow_a_planted_symlink(
    make_installation: Callable[..., Any], tmp_path: Path
) -> None:
    """A symbolic link planted at the temporary name would send the log to a file the attacker
    reads; the export refuses it with one line instead."""
    gregor = make_installation("gregor")
    assert gregor.run("send", "@gregor", "secret").code == 0
    loot = tmp_path / "loot"
    loot.write_text("", encoding="utf-8")
    loot.chmod(0o666)
    (tmp_path / ".out.jsonl.partial").symlink_to(loot)
    proc = run_with_umask(gregor, "export", str(tmp_path / "out.jsonl"))
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.decode().count("\n") == 1
    assert loot.read_bytes() == b""
