"""``messaging.hook`` in ``settings.local.yaml``: how the Claude Code hook behaves.

``auto_claim`` (default true): on a prompt, with QUEUED work and nothing WORKING, the hook claims the
next task for the agent; false makes it announce the task and leave the claim to the agent
(``datacore-msg task claim ID``).
"""

from __future__ import annotations

from pathlib import Path

from datacore_msg.config.settings import Settings
from datacore_msg.config.yamlsafe import key_text
from datacore_msg.errors import ConfigError
from datacore_msg.records import Record, set_field


class HookSettings(Record):
    __slots__ = ("auto_claim",)

    auto_claim: bool

    def __init__(self, auto_claim: bool = True) -> None:
        set_field(self, "auto_claim", auto_claim)


def load_hook_settings(settings: Settings, path: Path) -> HookSettings:
    messaging = settings.raw.get("messaging") or {}
    section = messaging.get("hook") if isinstance(messaging, dict) else None
    if section is None:
        return HookSettings()
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: messaging.hook must be a mapping")
    unknown = sorted(set(section) - {"auto_claim"}, key=str)
    if unknown:
        raise ConfigError(f"{path}: messaging.hook.{key_text(unknown[0])}: unknown key (known: auto_claim)")
    auto_claim = section.get("auto_claim", True)
    if not isinstance(auto_claim, bool):
        raise ConfigError(f"{path}: messaging.hook.auto_claim must be true or false")
    return HookSettings(auto_claim=auto_claim)
