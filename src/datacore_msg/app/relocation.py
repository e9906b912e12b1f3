"""A root moved or restored away from its state folder: the record that finds it, the check that
says so, and the re-link.

The state folder (signing key, event logs) is outside the root, at a path derived from the root's
path (:func:`~datacore_msg.config.paths.default_state_dir`), so that it is never synced. Moving or
restoring the root to another path therefore points it at an empty state folder: without this
module, ``verify`` would report "All 0 events verify" on a new empty log and ``init`` would make a
second identity for the same root.

So ``init`` records, in the root (``.datacore/msg-state.json``, which moves with it), the absolute
state folder and the public key of its key. Every command that opens the root checks, before it
opens (and would create) a log: when the state folder it derives holds no key, and the root has a
record or views of its own, the root was moved or restored; the command stops with one line saying
where the state is (or was, or which state folders of that root's name exist) and the command that
re-links it, ``datacore-msg init --relink``: it writes the recorded (or given) folder, once its key is
checked against the record, as ``messaging.state_dir`` in the root's own settings. ``init`` on such
a root refuses to create a new key without ``--force``.
"""

from __future__ import annotations

import os
from pathlib import Path

from datacore_msg.config.paths import Paths
from datacore_msg.errors import ConfigError
from datacore_msg.fsutil import atomic_write
from datacore_msg.jsontext import loads
from datacore_msg.records import Record, set_field

RECORD = "msg-state.json"
#: How many candidate state folders a message names.
CANDIDATES_SHOWN = 3


class StateRecord(Record):
    __slots__ = ("public_key", "state_dir")
    state_dir: Path
    public_key: str

    def __init__(
        self,
        state_dir: Path,
        public_key: str,
    ) -> None:
        set_field(self, "state_dir", state_dir)
        set_field(self, "public_key", public_key)


def record_path(root: Path) -> Path:
    return root / ".datacore" / RECORD


def read_record(root: Path) -> StateRecord | None:
    """The root's record of its state folder, or None when there is none (or it is unreadable: the
    record only helps find the state, it never decides anything)."""
    try:
        data = loads(record_path(root).read_text(encoding="utf-8"))
        return StateRecord(Path(str(data["state_dir"])), str(data["public_key"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_record(paths: Paths, public_key: str) -> None:
    data = {"state_dir": str(paths.state_dir), "public_key": public_key}
    current = read_record(paths.root)
    if current != StateRecord(paths.state_dir, public_key):
        import json

        atomic_write(record_path(paths.root), (json.dumps(data, indent=1) + "\n").encode("utf-8"), mode=0o600)


def has_views(paths: Paths) -> bool:
    """Whether the root holds views written before (any space's ``org/messaging`` with a file)."""
    try:
        spaces = [entry for entry in paths.root.iterdir() if entry.is_dir() and entry.name != ".datacore"]
    except OSError:
        return False
    for space in spaces:
        views = space / "org" / "messaging"
        if views.is_dir() and any(path.suffix == ".org" for path in views.rglob("*.org")):
            return True
    return False


def _candidates(paths: Paths) -> list[Path]:
    """State folders next to the derived one that are named after the same root and hold a key."""
    parent = paths.state_dir.parent
    prefix = (paths.root.name or "root") + "-"
    try:
        found = [
            entry
            for entry in parent.iterdir()
            if entry.name.startswith(prefix) and entry != paths.state_dir and (entry / "signing.key").exists()
        ]
    except OSError:
        return []
    return sorted(found)[:CANDIDATES_SHOWN]


def moved_root_problem(paths: Paths) -> str | None:
    """What to tell the user when ``paths.root`` was moved or restored away from its state folder
    (None when the state folder holds a key, or the root never had one)."""
    if paths.key_file.exists():
        return None
    record = read_record(paths.root)
    if record is not None and record.state_dir == paths.state_dir:
        return None  # where it always was: a lost key, reported as such when the key is read
    if record is None and (paths.state_dir.exists() or not has_views(paths)):
        return None  # a new root, or an old one whose state folder is there but lost its key
    head = (
        f"{paths.root}: this root has no signing key or event log at {paths.state_dir} (the state "
        "folder is found from the root's path, so the root was probably moved or restored to "
        "another path)"
    )
    if record is not None and (record.state_dir / "signing.key").exists():
        return (
            f"{head}; its key and log are in {record.state_dir}: run `datacore-msg init --relink` "
            "to use them again"
        )
    if record is not None:
        return (
            f"{head}; they were in {record.state_dir}, which has no signing key now: restore that "
            "folder and run `datacore-msg init --relink`, or `init --relink --state-dir DIR` with "
            "the folder that holds them"
        )
    found = _candidates(paths)
    where = (
        "; state folders of a root of that name: " + ", ".join(map(str, found))
        if found
        else "; no state folder of a root of that name was found"
    )
    return (
        f"{head}{where}: run `datacore-msg init --relink --state-dir DIR` with the folder that holds "
        "its signing.key (`init --force` would start a new identity instead)"
    )


def check_linked(paths: Paths) -> None:
    """Raise :class:`ConfigError` when the root lost its state folder (see the module's docstring)."""
    problem = moved_root_problem(paths)
    if problem is not None:
        raise ConfigError(problem)


def relink_target(paths: Paths, state_dir: str | None) -> Path:
    """The state folder ``init --relink`` points the root at: ``state_dir`` (absolute, or relative
    to the working directory as typed), else the recorded one; it must hold a signing key, and the
    one the record names when there is a record."""
    from datacore_msg.eventlog.signing import load_key_file

    record = read_record(paths.root)
    if state_dir is not None:
        target = Path(os.path.abspath(Path(state_dir).expanduser()))
    elif record is not None:
        target = record.state_dir
    else:
        raise ConfigError(
            f"{paths.root}: there is no record of this root's state folder "
            f"(.datacore/{RECORD}); pass --state-dir DIR, the folder that holds its signing.key"
        )
    key = load_key_file(target / "signing.key")
    if record is not None and state_dir is None and key.public_hex != record.public_key:
        raise ConfigError(
            f"{target}: its signing key is not the one this root recorded ({record.public_key[:12]}…); "
            "pass --state-dir DIR to use it anyway"
        )
    return target
