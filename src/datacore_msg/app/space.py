"""Opening one space of one installation: settings, paths, key, event log, views."""

from __future__ import annotations

import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

from datacore_msg.config.paths import Paths, default_state_dir, resolve_root, settings_path
from datacore_msg.config.settings import Settings, check_option_space, load_settings, user_name
from datacore_msg.errors import ConfigError
from datacore_msg.eventlog.names import agent_of
from datacore_msg.eventlog.signing import SigningKey, load_key_file
from datacore_msg.eventlog.store import EventStore
from datacore_msg.eventlog.trust import TrustBook
from datacore_msg.governor.policy import Policy
from datacore_msg.migrations.runner import open_store
from datacore_msg.projections.drivers.catchup import LOCK_TIMEOUT_S, ViewContext
from datacore_msg.readmodels.taskcache import TaskCache
from datacore_msg.readmodels.viewcache import ViewCache
from datacore_msg.records import MutableRecord

Clock = Callable[[], int]


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class Space(MutableRecord):
    __slots__ = (
        "_book",
        "_policy",
        "clock",
        "key",
        "lock_timeout_s",
        "owns_store",
        "paths",
        "settings",
        "store",
        "user",
    )
    paths: Paths
    settings: Settings
    user: str
    store: EventStore
    key: SigningKey | None
    clock: Clock
    #: How long a command waits for another process's views write (the hook waits less).
    lock_timeout_s: float
    _book: TrustBook | None
    _policy: Policy | None
    #: False when a :class:`SpaceOpener` lends the log's connection: closing the space keeps it.
    owns_store: bool

    def __init__(
        self,
        paths: Paths,
        settings: Settings,
        user: str,
        store: EventStore,
        key: SigningKey | None,
        clock: Clock = wall_ms,
        lock_timeout_s: float = LOCK_TIMEOUT_S,
        book: TrustBook | None = None,
        policy: Policy | None = None,
        owns_store: bool = True,
    ) -> None:
        self.paths = paths
        self.settings = settings
        self.user = user
        self.store = store
        self.key = key
        self.clock = clock
        self.lock_timeout_s = lock_timeout_s
        self._book = book
        self._policy = policy
        self.owns_store = owns_store

    @property
    def tz(self) -> ZoneInfo:
        return self.settings.tzinfo()

    @property
    def agent(self) -> str:
        return agent_of(self.user)

    def trust(self) -> TrustBook:
        if self._book is None:
            from datacore_msg.config.trust import build_trust_book

            self._book = build_trust_book(
                self.user,
                self.signing_key().public_hex,
                self.settings,
                self.paths.settings_file,
                self.paths.contacts_file,
            )
        return self._book

    def policy(self) -> Policy:
        if self._policy is None:
            from datacore_msg.config.policy import load_policy

            self._policy = load_policy(self.settings, self.paths.settings_file)
        return self._policy

    def preflight(self) -> None:
        """Read what the refresh after an append needs and a person may have got wrong
        (``contacts.yaml``, the governor's settings), so that a configuration error stops a command
        before anything is stored rather than after (when it could only be a warning)."""
        self.trust()
        self.policy()

    def tasks(self) -> TaskCache:
        return TaskCache(self.store.conn, self.store.path)

    def views(self) -> ViewContext:
        return ViewContext(
            store=self.store,
            cache=ViewCache(self.store.conn, self.store.path),
            user=self.user,
            tz=self.tz,
            views_dir=self.paths.views_dir,
            lock_path=self.paths.lock_file,
            book=self.trust(),
            lock_timeout_s=self.lock_timeout_s,
        )

    def signing_key(self) -> SigningKey:
        if self.key is None:
            self.key = load_key_file(self.paths.key_file)
        return self.key

    def close(self) -> None:
        if self.owns_store:
            self.store.close()

    def __enter__(self) -> Space:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def locate(root: str | None, space: str | None) -> tuple[Paths, Settings]:
    root_path = resolve_root(root)
    settings_file = settings_path(root_path)
    settings = load_settings(settings_file)
    space_name = check_option_space(space) if space else settings.default_space
    state_dir = default_state_dir(root_path, settings.state_dir)
    return Paths(root=root_path, space=space_name, state_dir=state_dir), settings


def checked_user(paths: Paths, settings: Settings) -> str:
    """The user of a set-up installation (else a ConfigError saying how to set it up)."""
    if not paths.settings_file.exists() and not paths.key_file.exists():
        raise ConfigError(
            f"{paths.settings_file}: this installation is not set up; "
            "run 'datacore-msg init --name NAME' first"
        )
    user = user_name(settings)
    if user is None:
        raise ConfigError(
            f"{paths.settings_file}: no identity.name and $USER is not a valid name; "
            "run 'datacore-msg init --name NAME'"
        )
    from datacore_msg.app.relocation import check_linked

    check_linked(paths)  # before a log is opened (and created) in the wrong state folder
    return user


def open_space(root: str | None = None, space: str | None = None, clock: Clock = wall_ms) -> Space:
    paths, settings = locate(root, space)
    user = checked_user(paths, settings)
    store = open_store(paths.db_file)
    return Space(paths=paths, settings=settings, user=user, store=store, key=None, clock=clock)


class SpaceOpener(MutableRecord):
    """Opens one space again and again in a long-running process (the MCP server), each time as
    :func:`open_space` does (settings, contacts, key and policy read afresh), but keeping the log's
    SQLite connection between opens: closing the last connection checkpoints the WAL, about 15 ms
    on a disk, and a connection's every read sees the latest commit anyway. Use from one thread."""

    __slots__ = ("_store", "clock", "root", "space")
    root: str | None
    space: str | None
    clock: Clock
    _store: EventStore | None

    def __init__(
        self, root: str | None, space: str | None, clock: Clock = wall_ms, store: EventStore | None = None
    ) -> None:
        self.root = root
        self.space = space
        self.clock = clock
        self._store = store

    def open(self) -> Space:
        paths, settings = locate(self.root, self.space)
        user = checked_user(paths, settings)
        if self._store is not None and self._store.path != paths.db_file:
            self.close()
        if self._store is None:
            self._store = open_store(paths.db_file)
        return Space(
            paths=paths,
            settings=settings,
            user=user,
            store=self._store,
            key=None,
            clock=self.clock,
            owns_store=False,
        )

    def close(self) -> None:
        """Close the kept connection (the next :meth:`open` makes a new one)."""
        if self._store is not None:
            store, self._store = self._store, None
            store.close()
