"""``init``: settings, the space's folders and this installation's signing key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from datacore_msg.app.relocation import moved_root_problem, relink_target, write_record
from datacore_msg.config.paths import Paths, default_state_dir, resolve_root, settings_path
from datacore_msg.config.settings import (
    DEFAULT_SPACE,
    Settings,
    check_option_space,
    check_timezone,
    parse_settings,
    user_name,
)
from datacore_msg.config.yamlsafe import load as load_yaml
from datacore_msg.errors import ConfigError, InvalidInput
from datacore_msg.eventlog.names import check_actor
from datacore_msg.eventlog.signing import SigningKey, create_key_file, load_key_file
from datacore_msg.fsutil import atomic_write
from datacore_msg.migrations.runner import (
    MigrationStatus,
    apply_pending,
    open_store,
    status,
)
from datacore_msg.migrations.schema import STEPS


@attrs.frozen
class InitResult:
    paths: Paths
    name: str
    public_key: str
    created_key: bool
    wrote_settings: bool
    warnings: tuple[str, ...] = ()


def _merged_settings(existing: Any, name: str, space: str, tz: str, state_dir: str | None) -> dict[str, Any]:
    data: dict[str, Any] = dict(existing) if isinstance(existing, dict) else {}
    identity = dict(data.get("identity") or {})
    messaging = dict(data.get("messaging") or {})
    identity["name"] = name
    identity["timezone"] = tz
    messaging["default_space"] = space
    if state_dir is not None:
        messaging["state_dir"] = state_dir
    data["identity"] = identity
    data["messaging"] = messaging
    return data


def init(
    name: str,
    space: str | None = None,
    timezone_name: str | None = None,
    root: str | None = None,
    force: bool = False,
    state_dir: str | None = None,
) -> InitResult:
    import yaml

    check_actor(name, "--name")
    if timezone_name is not None:
        check_timezone(timezone_name, "--timezone", InvalidInput)
    root_path = resolve_root(root)
    settings_file = settings_path(root_path)
    existing = load_yaml(settings_file)
    current = parse_settings(existing, settings_file) if existing is not None else None
    space_name = check_option_space(space) if space else (current.default_space if current else DEFAULT_SPACE)
    if timezone_name is None:
        timezone_name = current.timezone if current else "UTC"
    wanted = _merged_settings(existing, name, space_name, timezone_name, state_dir)
    wrote = False
    if existing != wanted:
        if existing is not None and not force:
            raise ConfigError(
                f"{settings_file}: settings already exist and differ from what was asked; "
                "pass --force to change them (the old file is kept as .bak)"
            )
        if existing is not None:
            backup = settings_file.with_name(settings_file.name + ".bak")
            atomic_write(backup, settings_file.read_bytes(), mode=0o600)
        text = "# datacore settings for this machine (written by datacore-msg init)\n" + yaml.safe_dump(
            wanted, sort_keys=False, allow_unicode=True
        )
        atomic_write(settings_file, text.encode("utf-8"), mode=0o600)
        wrote = True
    settings = parse_settings(wanted, settings_file)
    paths = Paths(root_path, space_name, default_state_dir(root_path, settings.state_dir))
    for folder in (paths.views_dir, paths.views_dir / "agents", paths.views_dir / "archive"):
        folder.mkdir(parents=True, exist_ok=True)
    created = False
    key: SigningKey
    if paths.key_file.exists():
        key = load_key_file(paths.key_file)
    else:
        problem = None if force else moved_root_problem(paths)
        if problem is not None:
            raise ConfigError(f"{problem}; init makes no second identity for this root without --force")
        key = create_key_file(paths.key_file)
        created = True
    write_record(paths, key.public_hex)
    warnings = _write_first_views(paths, settings)
    return InitResult(paths, name, key.public_hex, created, wrote, warnings)


def relink(root: str | None = None, space: str | None = None, state_dir: str | None = None) -> InitResult:
    """``init --relink``: point a moved or restored root at its state folder again (the recorded
    one, or ``state_dir``) by writing it as ``messaging.state_dir`` in the root's settings."""
    from datacore_msg.app.space import checked_user, locate

    paths, settings = locate(root, space)
    if paths.key_file.exists() and state_dir is None:
        user = checked_user(paths, settings)
        return InitResult(paths, user, load_key_file(paths.key_file).public_hex, False, False)
    target = relink_target(paths, state_dir)
    existing = load_yaml(paths.settings_file)
    data: dict[str, Any] = dict(existing) if isinstance(existing, dict) else {}
    data["messaging"] = {**dict(data.get("messaging") or {}), "state_dir": str(target)}
    settings = parse_settings(data, paths.settings_file)
    if existing is not None:
        backup = paths.settings_file.with_name(paths.settings_file.name + ".bak")
        atomic_write(backup, paths.settings_file.read_bytes(), mode=0o600)
    text = "# datacore settings for this machine (written by datacore-msg init)\n" + _yaml_dump(data)
    atomic_write(paths.settings_file, text.encode("utf-8"), mode=0o600)
    paths = Paths(paths.root, paths.space, default_state_dir(paths.root, settings.state_dir))
    user = checked_user(paths, settings)
    key = load_key_file(paths.key_file)
    write_record(paths, key.public_hex)
    return InitResult(paths, user, key.public_hex, False, True)


def _yaml_dump(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def describe_paths(paths: Paths) -> dict[str, Path]:
    return {
        "settings": paths.settings_file,
        "views": paths.views_dir,
        "event log": paths.db_file,
        "signing key": paths.key_file,
    }


def migration_status(
    root: str | None, space: str | None, apply: bool
) -> tuple[list[str], list[MigrationStatus]]:
    """Apply pending migrations (``apply``) and list every step; a missing log is never created
    just to be listed."""
    from datacore_msg.app.space import locate
    from datacore_msg.eventlog.connection import connect

    paths, _ = locate(root, space)
    if not paths.settings_file.exists() and not paths.key_file.exists():
        raise ConfigError(
            f"{paths.settings_file}: this installation is not set up; "
            "run 'datacore-msg init --name NAME' first"
        )
    if not apply and not paths.db_file.exists():
        return [], [MigrationStatus(name, None) for name, _ in STEPS]
    conn = connect(paths.db_file)
    try:
        applied = apply_pending(conn, paths.db_file) if apply else []
        return applied, status(conn, paths.db_file)
    finally:
        conn.close()


def _write_first_views(paths: Paths, settings: Settings) -> tuple[str, ...]:
    """Write the (possibly empty) views at once, so they exist and ``rebuild --check`` is clean.
    Files already there (say, views of the system we replace) are kept aside, with a warning."""
    from datacore_msg.app.space import Space
    from datacore_msg.projections.drivers.catchup import catch_up

    user = user_name(settings)
    if user is None:
        return ()
    with Space(paths, settings, user, open_store(paths.db_file), None) as space:
        return tuple(catch_up(space.views()).warnings)
