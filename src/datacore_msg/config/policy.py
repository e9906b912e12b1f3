"""The governor's limits and the trust tiers, read from the settings.

``messaging.trust_tiers`` overrides parts of the tier table (``priority_boost``,
``daily_token_limit``, ``max_effort``, ``auto_accept``); ``messaging.compute`` overrides the compute
limits (``daily_budget_tokens``, ``per_sender_daily_max``, ``per_task_max_tokens``,
``per_task_timeout_minutes``, ``cooldown_between_tasks``, ``max_queue_depth``,
``rate_limits.tasks_per_hour``, ``max_retries``, ``default_task_tokens``,
``unpinned_queue_per_key``, ``unpinned_queue_total``);
``messaging.trust_overrides`` maps actor names to tiers. Every error names the key and the file.
"""

from __future__ import annotations

from pathlib import Path

from datacore_msg.config.settings import Settings
from datacore_msg.config.yamlsafe import key_text, quote
from datacore_msg.errors import ConfigError
from datacore_msg.eventlog.names import is_actor
from datacore_msg.governor.policy import DEFAULT_TIERS, TIERS, ComputeLimits, Policy, TierLimits
from datacore_msg.records import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

TIER_KEYS = {
    "priority_boost": "priority_boost",
    "daily_token_limit": "daily_tokens",
    "daily_tokens": "daily_tokens",
    "max_effort": "max_effort",
    "auto_accept": "auto_accept",
}
COMPUTE_KEYS = ComputeLimits._FIELDS
MAX_LIMIT = 10**12


def _messaging(settings: Settings) -> dict[str, Any]:
    value = settings.raw.get("messaging") or {}
    return value if isinstance(value, dict) else {}


def _mapping_or_empty(value: object) -> object:
    """A missing or empty (``null``) section is no overrides; anything else is checked as given."""
    return {} if value is None else value


def _count(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LIMIT:
        raise ConfigError(f"{where}: must be a whole number from 0 to {MAX_LIMIT}, not {quote(value)}")
    return value


def _tier_limits(base: TierLimits, overrides: object, where: str) -> TierLimits:
    if not isinstance(overrides, dict):
        raise ConfigError(f"{where}: must be a mapping")
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        field = TIER_KEYS.get(key)
        if field is None:
            raise ConfigError(f"{where}.{key_text(key)}: unknown key (use {', '.join(sorted(TIER_KEYS))})")
        if field == "auto_accept":
            if not isinstance(value, bool):
                raise ConfigError(f"{where}.{key}: must be true or false")
            changes[field] = value
        elif field == "priority_boost":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
                raise ConfigError(f"{where}.{key}: must be a number from 0 to 100")
            changes[field] = float(value)
        else:
            changes[field] = _count(value, f"{where}.{key}")
    return base.evolve(**changes)


def load_policy(settings: Settings, path: Path) -> Policy:
    messaging = _messaging(settings)
    tiers = dict(DEFAULT_TIERS)
    raw_tiers = _mapping_or_empty(messaging.get("trust_tiers"))
    if not isinstance(raw_tiers, dict):
        raise ConfigError(f"{path}: messaging.trust_tiers must be a mapping")
    for name, overrides in raw_tiers.items():
        if name not in TIERS:
            raise ConfigError(
                f"{path}: messaging.trust_tiers.{key_text(name)}: unknown tier (use {', '.join(TIERS)})"
            )
        tiers[name] = _tier_limits(tiers[name], overrides, f"{path}: messaging.trust_tiers.{name}")
    raw_compute = _mapping_or_empty(messaging.get("compute"))
    if not isinstance(raw_compute, dict):
        raise ConfigError(f"{path}: messaging.compute must be a mapping")
    changes: dict[str, int] = {}
    for key, value in raw_compute.items():
        where = f"{path}: messaging.compute.{key_text(key)}"
        if key == "rate_limits":
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: must be a mapping")
            for sub, number in value.items():
                if sub != "tasks_per_hour":
                    raise ConfigError(f"{where}.{key_text(sub)}: unknown key (use tasks_per_hour)")
                changes["tasks_per_hour"] = _count(number, f"{where}.{sub}")
        elif key in COMPUTE_KEYS:
            changes[key] = _count(value, where)
        else:
            raise ConfigError(f"{where}: unknown key (use {', '.join(COMPUTE_KEYS)}, rate_limits)")
    if changes.get("default_task_tokens", 1) == 0:
        raise ConfigError(f"{path}: messaging.compute.default_task_tokens: must be at least 1")
    return Policy(tiers=tiers, compute=ComputeLimits(**changes))


def load_overrides(settings: Settings, path: Path) -> dict[str, str]:
    raw = _mapping_or_empty(_messaging(settings).get("trust_overrides"))
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: messaging.trust_overrides must be a mapping of name to tier")
    out: dict[str, str] = {}
    for actor, tier in raw.items():
        if not is_actor(actor):
            raise ConfigError(f"{path}: messaging.trust_overrides: {quote(actor)} is not a valid name")
        if tier not in TIERS:
            raise ConfigError(
                f"{path}: messaging.trust_overrides.{actor}: {quote(tier)} is not one of {', '.join(TIERS)}"
            )
        out[actor] = tier
    return out
