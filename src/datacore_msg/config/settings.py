"""``settings.local.yaml``: reading it strictly, with file and line in every error.

The file is read through :mod:`datacore_msg.config.yamlsafe` (bounded size, aliases and quotes).

Keys used (REFERENCE.md): ``identity.name``, ``identity.timezone``, ``messaging.default_space``,
``messaging.state_dir``, ``messaging.relay.url``, ``messaging.relay.secret``,
``messaging.trust_overrides``, ``messaging.trust_tiers``, ``messaging.compute``. Other keys are kept
as they are (the file is shared with other Datacore modules).

``messaging.relay`` (read here, used by the relay transport): ``url`` is a ``ws://`` or ``wss://``
URL with a host and nothing else (no user or password, no ``?query``, no ``#fragment``: the protocol
has no use for them, and a token in a query would be shown wherever the URL is), or a list of such URLs
(instances of one relay, tried in order: :mod:`datacore_msg.transport.failover`), non-empty, at most
:data:`MAX_RELAY_URLS`, none named twice (compared without case in scheme and host, and with the
default port filled in); ``secret`` is the team's shared relay secret, a non-blank string, else the
environment's ``RELAY_SECRET`` (as in v0.2). Both are optional here; other keys in the section are
refused (a misspelt ``secret`` must not go unnoticed). An error names the file, and the line and
column of the value when the file is there to read them from. The secret is never quoted in an error
message nor shown in a ``repr``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from datacore_msg.config.yamlsafe import key_text, load, place, quote
from datacore_msg.errors import ConfigError, DatacoreError, InvalidInput
from datacore_msg.eventlog.names import is_actor
from datacore_msg.records import TYPE_CHECKING, Record, set_field

if TYPE_CHECKING:
    from typing import Any

DEFAULT_SPACE = "0-personal"
SPACE_RE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
RELAY_SECRET_ENV = "RELAY_SECRET"
RELAY_SCHEMES = ("ws", "wss")
RELAY_KEYS = ("url", "secret")
MAX_RELAY_URL = 2048
MAX_RELAY_URLS = 16
DEFAULT_PORTS = {"ws": 80, "wss": 443}


class RelaySettings(Record):
    """The relay section; ``secret`` is never shown in a ``repr``."""

    __slots__ = ("secret", "secret_from", "url", "urls")
    #: The first (or only) relay URL.
    url: str | None
    secret: str | None
    secret_from: str | None  # "settings" or "environment" (RELAY_SECRET), None without one
    #: Every relay URL, in the order written (``(url,)`` for one URL; empty without a relay).
    urls: tuple[str, ...]

    def __init__(
        self,
        url: str | None = None,
        secret: str | None = None,
        secret_from: str | None = None,
        *,
        urls: Iterable[str] | None = None,
    ) -> None:
        set_field(self, "url", url)
        set_field(self, "secret", secret)
        set_field(self, "secret_from", secret_from)
        set_field(self, "urls", (() if url is None else (url,)) if urls is None else tuple(urls))

    def __repr__(self) -> str:
        return f"RelaySettings(url={self.url!r}, secret_from={self.secret_from!r}, urls={self.urls!r})"


_NO_RELAY = RelaySettings()


class Settings(Record):
    __slots__ = ("default_space", "name", "raw", "relay", "state_dir", "timezone")
    name: str | None
    timezone: str
    default_space: str
    state_dir: str | None
    raw: dict[str, Any]
    relay: RelaySettings

    def __init__(
        self,
        name: str | None,
        timezone: str,
        default_space: str,
        state_dir: str | None,
        raw: dict[str, Any],
        relay: RelaySettings = _NO_RELAY,
    ) -> None:
        set_field(self, "name", name)
        set_field(self, "timezone", timezone)
        set_field(self, "default_space", default_space)
        set_field(self, "state_dir", state_dir)
        set_field(self, "raw", raw)
        set_field(self, "relay", relay)

    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _section(raw: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: '{key_text(key)}' must be a mapping, not {type(value).__name__}")
    return value


def check_space(space: str, where: str, error: type[DatacoreError] = ConfigError) -> str:
    if not space or not SPACE_RE_CHARS.issuperset(space) or space.startswith("."):
        raise error(f"{where}: space {quote(space)} is not a valid folder name")
    return space


def check_timezone(name: str, where: str, error: type[DatacoreError] = ConfigError) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise error(f"{where}: unknown time zone {quote(name)} (use an IANA name)") from None
    return name


def check_option_space(space: str) -> str:
    return check_space(space, "--space", InvalidInput)


class _Refused(Exception):
    """A relay setting refused; the message starts with the key (the caller puts the place first)."""


def _relay_url(value: object, label: str) -> str:
    if not isinstance(value, str):
        raise _Refused(f"{label} must be a string (a ws:// or wss:// URL)")
    if len(value) > MAX_RELAY_URL:
        raise _Refused(f"{label} is longer than {MAX_RELAY_URL} characters")
    if not value.isprintable() or any(char.isspace() for char in value):
        raise _Refused(f"{label} must be one URL without spaces or control characters")
    scheme, sep, _ = value.partition("://")
    if not sep or scheme.lower() not in RELAY_SCHEMES:
        raise _Refused(f"{label} must start with ws:// or wss://")
    from urllib.parse import urlsplit  # only when a relay is configured: every command reads this file

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in 0..65535
    except ValueError as exc:
        raise _Refused(f"{label} is not a valid URL ({quote(str(exc))})") from None
    if not parts.hostname:
        raise _Refused(f"{label} has no host (ws://HOST[:PORT][/PATH])")
    if parts.username is not None or parts.password is not None:
        raise _Refused(f"{label} must not hold a user or password (the secret has its own key)")
    if parts.query or "?" in value:
        raise _Refused(f"{label} must not have a ?query (the relay reads none; the secret has its own key)")
    if parts.fragment or value.endswith("#"):
        raise _Refused(f"{label} must not have a #fragment")
    return value


def _same_relay(url: str) -> tuple[str, str, int, str]:
    """What makes two relay URLs the same relay: case-blind scheme and host, the default port
    filled in, an empty path as ``/``."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port if parts.port is not None else DEFAULT_PORTS[scheme]
    return (scheme, (parts.hostname or "").lower(), port, parts.path or "/")


def _relay_urls(value: object) -> tuple[tuple[str, ...], tuple[str | int, ...]]:
    """The URLs of ``messaging.relay.url`` (one, or a list); on a refusal, :class:`_Refused` with
    the keys of the value at fault in ``args[1]``."""
    keys: tuple[str | int, ...] = ("messaging", "relay", "url")
    label = "messaging.relay.url"
    if not isinstance(value, list):
        try:
            return (_relay_url(value, label),), keys
        except _Refused as exc:
            raise _Refused(str(exc), keys) from None
    if not value:
        raise _Refused(f"{label} is an empty list (give one URL or more, or remove the key)", keys)
    if len(value) > MAX_RELAY_URLS:
        raise _Refused(f"{label} lists {len(value)} URLs; at most {MAX_RELAY_URLS}", keys)
    seen: dict[tuple[str, str, int, str], int] = {}
    urls = []
    for index, item in enumerate(value):
        try:
            url = _relay_url(item, f"{label}[{index}]")
        except _Refused as exc:
            raise _Refused(str(exc), (*keys, index)) from None
        same = _same_relay(url)
        if same in seen:
            raise _Refused(
                f"{label}[{index}] names the same relay as {label}[{seen[same]}] (list each once)",
                (*keys, index),
            )
        seen[same] = index
        urls.append(url)
    return tuple(urls), keys


def parse_relay(messaging: dict[str, Any], path: Path, env: Mapping[str, str]) -> RelaySettings:
    """``messaging.relay``, with ``RELAY_SECRET`` from ``env`` when the file has no secret."""
    section = messaging.get("relay")
    if section is None:
        section = {}

    def refuse(message: str, *keys: str | int) -> ConfigError:
        return ConfigError(f"{place(path, ('messaging', 'relay', *keys))}: {message}")

    if not isinstance(section, dict):
        raise refuse("messaging.relay must be a mapping (url, secret)")
    unknown = sorted((key for key in section if key not in RELAY_KEYS), key=str)
    if unknown:
        raise ConfigError(
            f"{place(path, ('messaging', 'relay'))}: messaging.relay.{key_text(unknown[0])}: "
            f"unknown key (known: {', '.join(RELAY_KEYS)})"
        )
    urls: tuple[str, ...] = ()
    if section.get("url") is not None:
        try:
            urls, _ = _relay_urls(section["url"])
        except _Refused as exc:
            raise ConfigError(f"{place(path, exc.args[1])}: {exc.args[0]}") from None
    url = urls[0] if urls else None
    secret = section.get("secret")
    if secret is not None:
        if not isinstance(secret, str):
            raise refuse("messaging.relay.secret must be a string (quote it)", "secret")
        if not secret.strip():
            raise refuse("messaging.relay.secret is blank (remove it, or set a secret)", "secret")
        return RelaySettings(url, secret, "settings", urls=urls)
    from_env = env.get(RELAY_SECRET_ENV)
    if from_env and from_env.strip():
        return RelaySettings(url, from_env, "environment", urls=urls)
    return RelaySettings(url, urls=urls)


def parse_settings(raw: Any, path: Path, env: Mapping[str, str] | None = None) -> Settings:
    """The settings in ``raw`` (the YAML data of ``path``), checked; ``env`` (default: this process's
    environment) supplies ``RELAY_SECRET``."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    identity = _section(raw, "identity", path)
    messaging = _section(raw, "messaging", path)
    name = identity.get("name")
    if name is not None and not is_actor(name):
        raise ConfigError(f"{path}: identity.name {quote(name)} is not a valid name")
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
    relay = parse_relay(messaging, path, os.environ if env is None else env)
    return Settings(name, tz, space, state_dir, raw, relay)


def load_settings(path: Path) -> Settings:
    return parse_settings(load(path), path)


def user_name(settings: Settings) -> str | None:
    if settings.name:
        return settings.name
    env_user = os.environ.get("USER")
    return env_user if env_user and is_actor(env_user) else None
