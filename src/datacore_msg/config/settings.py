"""``settings.local.yaml``: reading it strictly, with file and line in every error.

Keys used (REFERENCE.md): ``identity.name``, ``identity.timezone``, ``messaging.default_space``,
``messaging.state_dir``, ``messaging.relay.url``, ``messaging.relay.secret``,
``messaging.trust_overrides``, ``messaging.trust_tiers``, ``messaging.compute``. Other keys are kept
as they are (the file is shared with other Datacore modules).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from datacore_msg.errors import ConfigError, DatacoreError, InvalidInput
from datacore_msg.eventlog.names import is_actor

DEFAULT_SPACE = "0-personal"
SPACE_RE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


@attrs.frozen
class Settings:
    name: str | None
    timezone: str
    default_space: str
    state_dir: str | None
    raw: dict[str, Any]

    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_yaml(path: Path) -> Any:
    """Parse a YAML file; errors name the file, line and column."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: malformed YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: malformed YAML: {exc}") from None


def _section(raw: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: '{key}' must be a mapping, not {type(value).__name__}")
    return value


def check_space(space: str, where: str, error: type[DatacoreError] = ConfigError) -> str:
    if not space or not SPACE_RE_CHARS.issuperset(space) or space.startswith("."):
        raise error(f"{where}: space {space!r} is not a valid folder name")
    return space


def check_timezone(name: str, where: str, error: type[DatacoreError] = ConfigError) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise error(f"{where}: unknown time zone {name!r} (use an IANA name)") from None
    return name


def check_option_space(space: str) -> str:
    return check_space(space, "--space", InvalidInput)


def parse_settings(raw: Any, path: Path) -> Settings:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    identity = _section(raw, "identity", path)
    messaging = _section(raw, "messaging", path)
    name = identity.get("name")
    if name is not None and not is_actor(name):
        raise ConfigError(f"{path}: identity.name {name!r} is not a valid name")
    tz = identity.get("timezone", "UTC")
    if not isinstance(tz, str):
        raise ConfigError(f"{path}: identity.timezone must be a string")
    check_timezone(tz, f"{path}: identity.timezone")
    space = messaging.get("default_space", DEFAULT_SPACE)
    if not isinstance(space, str):
        raise ConfigError(f"{path}: messaging.default_space must be a string")
    check_space(space, f"{path}: messaging.default_space")
    state_dir = messaging.get("state_dir")
    if state_dir is not None and not isinstance(state_dir, str):
        raise ConfigError(f"{path}: messaging.state_dir must be a string")
    return Settings(name, tz, space, state_dir, raw)


def load_settings(path: Path) -> Settings:
    return parse_settings(load_yaml(path), path)


def user_name(settings: Settings) -> str | None:
    if settings.name:
        return settings.name
    env_user = os.environ.get("USER")
    return env_user if env_user and is_actor(env_user) else None
