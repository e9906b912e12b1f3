"""``messaging.relay.url`` / ``messaging.relay.secret`` (else ``RELAY_SECRET``): read strictly, the
secret never shown."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from datacore_msg.config.settings import RelaySettings, Settings, load_settings, parse_settings
from datacore_msg.errors import ConfigError

PATH = Path("settings.local.yaml")
SECRET = "s3cret-team-relay-passphrase"


def relay(section: Any, env: dict[str, str] | None = None) -> RelaySettings:
    return settings_with(section, env).relay


def settings_with(section: Any, env: dict[str, str] | None = None) -> Settings:
    raw = {"identity": {"name": "gregor"}, "messaging": {"relay": section}}
    return parse_settings(raw, PATH, env or {})


# -- valid -----------------------------------------------------------------------------------------


def test_no_relay_section_means_no_url_and_no_secret() -> None:
    assert parse_settings({"identity": {"name": "gregor"}}, PATH, {}).relay == RelaySettings()
    assert parse_settings(None, PATH, {}).relay == RelaySettings(None, None, None)
    assert relay(None) == RelaySettings()
    assert relay({}) == RelaySettings()


@pytest.mark.parametrize(
    "url",
    [
        "wss://relay.example.com/ws",
        "ws://localhost:8080/ws",
        "WSS://Relay.Example.com",
        "ws://127.0.0.1:8080",
        "ws://[::1]:8080/ws?room=team",
        "wss://relay.example.com:443/datacore/ws",
    ],
)
def test_ws_and_wss_urls_are_taken_as_written(url: str) -> None:
    assert relay({"url": url}) == RelaySettings(url=url)


def test_the_secret_comes_from_the_file() -> None:
    assert relay({"url": "wss://r.example/ws", "secret": SECRET}) == RelaySettings(
        "wss://r.example/ws", SECRET, "settings"
    )


def test_relay_secret_in_the_environment_is_the_fallback() -> None:
    env = {"RELAY_SECRET": "from-env"}
    assert relay({"url": "wss://r.example/ws"}, env) == RelaySettings(
        "wss://r.example/ws", "from-env", "environment"
    )
    assert relay(None, env) == RelaySettings(None, "from-env", "environment")
    assert relay({"secret": SECRET}, env) == RelaySettings(None, SECRET, "settings")  # the file wins
    assert relay({}, {"RELAY_SECRET": ""}) == RelaySettings()  # empty: unset
    assert relay({}, {"RELAY_SECRET": "  "}) == RelaySettings()


def test_load_settings_reads_relay_secret_from_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "settings.local.yaml"
    path.write_text("identity:\n  name: gregor\nmessaging:\n  relay:\n    url: wss://r.example/ws\n")
    monkeypatch.setenv("RELAY_SECRET", "from-env")
    assert load_settings(path).relay == RelaySettings("wss://r.example/ws", "from-env", "environment")
    monkeypatch.delenv("RELAY_SECRET")
    assert load_settings(path).relay == RelaySettings("wss://r.example/ws")


def test_the_secret_is_not_in_a_repr() -> None:
    settings = settings_with({"secret": SECRET})
    assert SECRET not in repr(settings.relay)
    assert SECRET not in repr(settings.relay.__class__(None, SECRET, "settings"))


# -- refused ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "why"),
    [
        pytest.param("http://relay.example.com/ws", "must start with ws:// or wss://", id="http"),
        pytest.param("https://relay.example.com/ws", "must start with ws:// or wss://", id="https"),
        pytest.param("relay.example.com:8080", "must start with ws:// or wss://", id="no-scheme"),
        pytest.param("ws:relay.example.com", "must start with ws:// or wss://", id="no-slashes"),
        pytest.param("wsx://relay.example.com", "must start with ws:// or wss://", id="other-scheme"),
        pytest.param("", "must start with ws:// or wss://", id="empty"),
        pytest.param("ws://", "has no host", id="no-host"),
        pytest.param("ws://:8080/ws", "has no host", id="port-only"),
        pytest.param("ws://relay.example.com:99999", "is not a valid URL", id="port-range"),
        pytest.param("ws://relay.example.com:http", "is not a valid URL", id="port-name"),
        pytest.param("wss://tex:pw@relay.example.com", "must not hold a user or password", id="userinfo"),
        pytest.param("wss://relay.example.com/ws#x", "must not have a #fragment", id="fragment"),
        pytest.param("wss://relay.example.com/a b", "without spaces or control characters", id="space"),
        pytest.param("wss://relay.example.com/\nx", "without spaces or control characters", id="newline"),
        pytest.param("wss://relay.example.com/\x1b[2J", "without spaces or control characters", id="escape"),
        pytest.param("wss://r.example/" + "a" * 3000, "is longer than 2048 characters", id="long"),
        pytest.param(8080, "must be a string", id="number"),
        pytest.param(["wss://a"], "must be a string", id="list"),
    ],
)
def test_a_bad_url_is_one_line_naming_the_file_and_key(url: Any, why: str) -> None:
    with pytest.raises(ConfigError) as caught:
        relay({"url": url})
    message = str(caught.value)
    assert message.startswith(f"{PATH}: messaging.relay.url ")
    assert why in message
    assert "\n" not in message
    assert len(message) < 200


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        pytest.param({"secret": 12345}, "messaging.relay.secret must be a string (quote it)", id="number"),
        pytest.param({"secret": True}, "messaging.relay.secret must be a string (quote it)", id="bool"),
        pytest.param({"secret": [SECRET]}, "messaging.relay.secret must be a string (quote it)", id="list"),
        pytest.param(
            {"secret": ""}, "messaging.relay.secret is blank (remove it, or set a secret)", id="empty"
        ),
        pytest.param(
            {"secret": " \t"}, "messaging.relay.secret is blank (remove it, or set a secret)", id="blank"
        ),
        pytest.param(
            {"secert": SECRET}, "messaging.relay.secert: unknown key (known: url, secret)", id="typo"
        ),
        pytest.param(
            "wss://r.example", "messaging.relay must be a mapping (url, secret)", id="not-a-mapping"
        ),
        pytest.param([SECRET], "messaging.relay must be a mapping (url, secret)", id="list-section"),
    ],
)
def test_a_bad_secret_or_section_is_refused_without_quoting_the_secret(section: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        relay(section, {"RELAY_SECRET": "from-env"})
    assert str(caught.value) == f"{PATH}: {expected}"
    assert SECRET not in str(caught.value)


def test_a_bad_relay_setting_stops_a_command_with_the_config_exit_code(
    make_installation: Callable[..., Any],
) -> None:
    gregor = make_installation("gregor")
    path = gregor.root / ".datacore" / "settings.local.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["messaging"]["relay"] = {"url": "https://relay.example.com/ws", "secret": SECRET}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = gregor.cli("inbox")
    assert result.code == 7, result
    assert result.err.strip().count("\n") == 0
    assert f"{path}: messaging.relay.url must start with ws:// or wss://" in result.err
    assert SECRET not in result.err
    data["messaging"]["relay"]["url"] = "wss://relay.example.com/ws"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert gregor.cli("inbox").code == 0
