"""``messaging.chat`` read strictly: the bell on by default, off with ``bell: false``, anything else
refused with the file named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from datacore_msg.config.chat import ChatSettings, load_chat_settings
from datacore_msg.config.settings import parse_settings
from datacore_msg.errors import ConfigError

PATH = Path("/x/settings.local.yaml")


def _load(messaging: Any) -> ChatSettings:
    return load_chat_settings(parse_settings({"messaging": messaging}, PATH, env={}), PATH)


@pytest.mark.parametrize(
    ("messaging", "expected"),
    [
        ({}, ChatSettings(bell=True)),
        ({"chat": None}, ChatSettings(bell=True)),
        ({"chat": {}}, ChatSettings(bell=True)),
        ({"chat": {"bell": False}}, ChatSettings(bell=False)),
        ({"chat": {"bell": True}}, ChatSettings(bell=True)),
    ],
)
def test_read(messaging: Any, expected: ChatSettings) -> None:
    assert _load(messaging) == expected


@pytest.mark.parametrize(
    ("messaging", "message"),
    [
        ({"chat": "quiet"}, "messaging.chat must be a mapping"),
        ({"chat": {"bell": "no"}}, "messaging.chat.bell must be true or false"),
        ({"chat": {"bel": False}}, "messaging.chat.bel: unknown key (known: bell)"),
    ],
)
def test_refused(messaging: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(messaging)
    assert str(caught.value) == f"{PATH}: {message}"
