"""Presence: this installation's status (``status``) and who is connected to the relay (``online``).

Presence is ephemeral: never an event, never in the log. The status is a small file in the space's
state folder; the watcher announces it on every connection and again when it changes. The watcher
also keeps the relay's roster in ``online.json`` there, so ``online`` reads it when a watcher runs,
and otherwise asks the relay itself over a short connection. The relay only knows keys: names are put
on them here, from this installation's pinned keys (``contacts.yaml``); an unpinned key is shown by
its first 12 hex digits. With several relay URLs, ``online`` asks the first that answers (in
order), and says which relay the roster came from (the watcher writes the URL it is connected to).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from datacore_msg.app.space import Space
from datacore_msg.app.watch_lock import watcher_running
from datacore_msg.config.paths import Paths
from datacore_msg.errors import InvalidInput, Unreachable
from datacore_msg.eventlog.names import is_agent
from datacore_msg.fsutil import atomic_write
from datacore_msg.records import TYPE_CHECKING, Record, set_field
from datacore_msg.transport.frames import STATUSES

if TYPE_CHECKING:
    from typing import Any

    from datacore_msg.transport.protocol import Stats

DEFAULT_STATUS = "online"
STATUS_NAME = "status"
ROSTER_NAME = "online.json"
#: Seconds for ``online``'s own connection to the relay (when no watcher runs).
WHO_TIMEOUT_S = 5.0


def status_path(paths: Paths) -> Path:
    return paths.space_state_dir / STATUS_NAME


def roster_path(paths: Paths) -> Path:
    return paths.space_state_dir / ROSTER_NAME


def current_status(paths: Paths) -> str:
    """The status set with ``status`` (``online`` when none was, or the file is not a status)."""
    try:
        value = status_path(paths).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return DEFAULT_STATUS
    return value if value in STATUSES else DEFAULT_STATUS


def set_status(paths: Paths, status: str) -> str:
    if status not in STATUSES:
        raise InvalidInput(f"status {status!r} is not one of {', '.join(STATUSES)}")
    paths.space_state_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(status_path(paths), (status + "\n").encode("utf-8"), mode=0o600)
    return status


def write_roster(
    paths: Paths, connected: bool, peers: dict[str, str], now_ms: int, url: str | None = None
) -> None:
    """The watcher's copy of the relay's roster (``connected`` False: the watcher is not connected;
    ``url``: the relay it is connected to)."""
    data: dict[str, Any] = {"connected": connected, "peers": peers if connected else {}, "at": now_ms}
    if connected and url is not None:
        data["relay"] = url
    atomic_write(roster_path(paths), json.dumps(data, sort_keys=True).encode("utf-8"), mode=0o600)


def _read_roster(paths: Paths) -> dict[str, Any] | None:
    try:
        data = json.loads(roster_path(paths).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("peers"), dict):
        return None
    return data


class OnlinePeer(Record):
    __slots__ = ("key", "name", "pinned", "status", "you")
    #: The pinned names of the key (comma-separated), else the key's first 12 hex digits.
    name: str
    key: str
    status: str
    pinned: bool
    you: bool

    def __init__(self, name: str, key: str, status: str, pinned: bool, you: bool) -> None:
        set_field(self, "name", name)
        set_field(self, "key", key)
        set_field(self, "status", status)
        set_field(self, "pinned", pinned)
        set_field(self, "you", you)


class Online(Record):
    __slots__ = ("peers", "relay", "source", "views")
    peers: list[OnlinePeer]
    #: Where the roster came from: ``watcher`` (its copy) or ``relay`` (asked just now).
    source: str
    views: Any
    #: The relay the roster is of (None: a watcher too old to say).
    relay: str | None

    def __init__(
        self, peers: list[OnlinePeer], source: str, views: Any = None, relay: str | None = None
    ) -> None:
        set_field(self, "peers", peers)
        set_field(self, "source", source)
        set_field(self, "views", views)
        set_field(self, "relay", relay)


def _named(space: Space, roster: dict[str, str]) -> list[OnlinePeer]:
    book = space.trust()
    own = space.signing_key().public_hex
    peers = []
    for key, status in roster.items():
        if status not in STATUSES:
            continue
        names = sorted(actor for actor, keys in book.keys.items() if key in keys and not is_agent(actor))
        peers.append(OnlinePeer(", ".join(names) or key[:12], key, status, bool(names), key == own))
    return sorted(peers, key=lambda p: (not p.pinned, p.name, p.key))


def who_is_online(space: Space, timeout_s: float = WHO_TIMEOUT_S) -> Online:
    """Who is connected to the relay, with their status: from the running watcher, else asked."""
    from datacore_msg.app.sync import _Receiver, relay_target

    urls, secret = relay_target(space)
    if watcher_running(space.paths.space_state_dir):
        data = _read_roster(space.paths)
        if data is None or not data.get("connected"):
            which = f"the relay {urls[0]}" if len(urls) == 1 else f"any of the relays {', '.join(urls)}"
            raise Unreachable(
                f"the watcher of this space is not connected to {which} now "
                f"(see {space.paths.space_state_dir / 'watcher.log'})"
            )
        relay = data.get("relay")
        peers = {str(k): str(v) for k, v in data["peers"].items()}
        return Online(_named(space, peers), "watcher", relay=relay if isinstance(relay, str) else None)
    from datacore_msg.app.views import refresh_after_commit
    from datacore_msg.transport.failover import Allowance, try_within
    from datacore_msg.transport.peer_client import who_once

    space.preflight()
    receiver = _Receiver(space)

    def attempt(url: str, given: Allowance) -> tuple[dict[str, str], Stats]:
        key = space.signing_key()
        return who_once(url, secret, key, space.store, receiver, given.total_s, given.connect_s)

    deadline = time.monotonic() + timeout_s
    url, (roster, stats), _ = try_within(urls, deadline, time.monotonic, attempt, timeout_s)
    views = refresh_after_commit(space, "what was received") if stats.received else None
    return Online(_named(space, roster), "relay", views, url)
