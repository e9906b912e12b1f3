"""``messaging.chat`` in ``settings.local.yaml``: how the chat window (``datacore-msg chat``) behaves.

``bell`` (default true): ring the terminal bell when a message to the user arrives while the window
is open; false keeps it quiet. Other keys are refused (a misspelt one must not go unnoticed).
"""

from __future__ import annotations

from datacore_msg.config.yamlsafe import key_text
from datacore_msg.errors import ConfigError
from datacore_msg.records import TYPE_CHECKING, Record, set_field

if TYPE_CHECKING:
    from pathlib import Path

    from datacore_msg.config.settings import Settings

KNOWN = ("bell",)


class ChatSettings(Record):
    __slots__ = ("bell",)
    bell: bool

    def __init__(self, bell: bool = True) -> None:
        set_field(self, "bell", bell)


def load_chat_settings(settings: Settings, path: Path) -> ChatSettings:
    messaging = settings.raw.get("messaging") or {}
    section = messaging.get("chat") if isinstance(messaging, dict) else None
    if section is None:
        return ChatSettings()
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: messaging.chat must be a mapping")
    unknown = sorted(set(section) - set(KNOWN), key=str)
    if unknown:
        raise ConfigError(f"{path}: messaging.chat.{key_text(unknown[0])}: unknown key (known: bell)")
    bell = section.get("bell", True)
    if not isinstance(bell, bool):
        raise ConfigError(f"{path}: messaging.chat.bell must be true or false")
    return ChatSettings(bell=bell)
