"""Where every file of an installation lives.

* ``$DATACORE_ROOT`` (default ``~/Data``): settings in ``.datacore/settings.local.yaml``; views of a
  space in ``<root>/<space>/org/messaging/``; contacts in ``<root>/<space>/contacts.yaml``.
* The state folder holds what must never be synced between machines: the signing key and the SQLite
  event log of each space. Default ``$XDG_STATE_HOME/datacore-msg/<root-name>-<hash>`` (so two roots
  on one machine stay apart). ``messaging.state_dir`` in a root's settings wins (it is specific to
  that root), then ``$DATACORE_MSG_STATE``. A relative path in either is taken relative to the
  root, never to the working directory: otherwise each directory a command ran in would get a key
  and a log of its own.
"""

from __future__ import annotations

import os
from pathlib import Path

from datacore_msg.digests import sha256
from datacore_msg.records import Record, set_field


class Paths(Record):
    __slots__ = ("root", "space", "state_dir")
    root: Path
    space: str
    state_dir: Path

    def __init__(self, root: Path, space: str, state_dir: Path) -> None:
        set_field(self, "root", root)
        set_field(self, "space", space)
        set_field(self, "state_dir", state_dir)

    @property
    def settings_file(self) -> Path:
        return self.root / ".datacore" / "settings.local.yaml"

    @property
    def space_dir(self) -> Path:
        return self.root / self.space

    @property
    def views_dir(self) -> Path:
        return self.space_dir / "org" / "messaging"

    @property
    def contacts_file(self) -> Path:
        return self.space_dir / "contacts.yaml"

    @property
    def key_file(self) -> Path:
        return self.state_dir / "signing.key"

    @property
    def space_state_dir(self) -> Path:
        return self.state_dir / "spaces" / self.space

    @property
    def db_file(self) -> Path:
        return self.space_state_dir / "events.sqlite3"

    @property
    def lock_file(self) -> Path:
        return self.space_state_dir / "views.lock"


def resolve_root(explicit: str | None = None) -> Path:
    value = explicit or os.environ.get("DATACORE_ROOT") or "~/Data"
    return Path(value).expanduser().absolute()


def settings_path(root: Path) -> Path:
    return root / ".datacore" / "settings.local.yaml"


def default_state_dir(root: Path, configured: str | None) -> Path:
    """The state folder of ``root`` (an absolute path): ``configured`` (``messaging.state_dir``),
    else ``$DATACORE_MSG_STATE``, a relative one taken relative to ``root``; else the default."""
    override = configured or os.environ.get("DATACORE_MSG_STATE")
    if override:
        return (root / Path(override).expanduser()).absolute()
    base = Path(os.environ.get("XDG_STATE_HOME") or "~/.local/state").expanduser()
    tag = sha256(str(root).encode("utf-8")).hexdigest()[:10]
    return (base / "datacore-msg" / f"{root.name or 'root'}-{tag}").absolute()
