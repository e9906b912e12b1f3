"""The hook's settings, cached as JSON so that a prompt does not parse YAML.

Everything the hook needs from ``settings.local.yaml`` and the space's paths (user, agent, event log,
views lock, time zone, ``messaging.hook.auto_claim``, tier priority boosts, the task timeout, whether
a relay is configured) is
worked out once by the same code every command uses (:func:`build`) and stored under
``$XDG_CACHE_HOME/datacore-msg/``. The entry is keyed by everything it was derived from: the root,
the ``--space`` given, the environment variables the paths and name depend on, and the size, mtime,
inode and ctime of the settings and contacts files (a rewrite that keeps the size and puts the mtime
back still changes the ctime). Any difference, a missing or unreadable cache, and the entry is
rebuilt; so the cache can always be deleted. The prompt hook's stamps (:mod:`.quiet`) live beside it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from datacore_msg import jsontext
from datacore_msg.hooks.quiet import ENV_KEYS, resolve_root, settings_cache_file
from datacore_msg.records import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from typing import Any

VERSION = 2


class HookConfig(NamedTuple):
    root: str
    space_arg: str | None
    user: str
    agent: str
    space: str
    db: str
    lock: str
    state_dir: str
    timezone: str
    auto_claim: bool
    boosts: dict[str, float]
    timeout_ms: int
    settings_file: str
    contacts_file: str
    #: A relay is configured (``messaging.relay.url``): session-start makes sure a watcher runs.
    relay: bool = False


def cache_file(root: str, space_arg: str | None, env: Mapping[str, str]) -> str:
    """One file per (root, --space); a clash of the checksum only costs a rebuild, since the entry
    names its root and space."""
    return settings_cache_file(root, space_arg, env)


def _stat_token(path: str) -> str | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{st.st_ctime_ns}"


def _key(config: HookConfig, env: Mapping[str, str]) -> list[Any]:
    return [
        VERSION,
        config.root,
        config.space_arg,
        [env.get(name) for name in ENV_KEYS],
        _stat_token(config.settings_file),
        _stat_token(config.contacts_file),
    ]


def cached(root: str | None, space_arg: str | None, env: Mapping[str, str]) -> HookConfig | None:
    """The cached config if it is still that of the files and environment, else None."""
    resolved = resolve_root(root, env)
    try:
        with open(cache_file(resolved, space_arg, env), encoding="utf-8") as handle:
            entry = jsontext.load(handle)
        config = HookConfig(**entry["config"])
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if config.root != resolved or config.space_arg != space_arg or entry.get("key") != _key(config, env):
        return None
    return config


def build(root: str | None, space_arg: str | None, env: Mapping[str, str]) -> HookConfig:
    """Work the config out from the settings (the full path: YAML, policy) and cache it."""
    import contextlib
    from pathlib import Path

    from datacore_msg.app.space import checked_user, locate
    from datacore_msg.config.hook import load_hook_settings
    from datacore_msg.config.policy import load_policy
    from datacore_msg.errors import StorageError
    from datacore_msg.eventlog.names import agent_of
    from datacore_msg.fsutil import atomic_write

    resolved = resolve_root(root, env)
    paths, settings = locate(resolved, space_arg)
    user = checked_user(paths, settings)
    policy = load_policy(settings, paths.settings_file)
    config = HookConfig(
        root=resolved,
        space_arg=space_arg,
        user=user,
        agent=agent_of(user),
        space=paths.space,
        db=str(paths.db_file),
        lock=str(paths.lock_file),
        state_dir=str(paths.space_state_dir),
        timezone=settings.timezone,
        auto_claim=load_hook_settings(settings, paths.settings_file).auto_claim,
        boosts={name: limits.priority_boost for name, limits in policy.tiers.items()},
        timeout_ms=policy.compute.per_task_timeout_minutes * 60_000,
        settings_file=str(paths.settings_file),
        contacts_file=str(paths.contacts_file),
        relay=settings.relay.url is not None,
    )
    entry = {"key": _key(config, env), "config": config._asdict()}
    with contextlib.suppress(StorageError):
        atomic_write(
            Path(cache_file(resolved, space_arg, env)),
            jsontext.dumps(entry, sort_keys=True).encode("utf-8"),
            mode=0o600,
        )
    return config


def load(root: str | None, space_arg: str | None, env: Mapping[str, str]) -> HookConfig:
    return cached(root, space_arg, env) or build(root, space_arg, env)
