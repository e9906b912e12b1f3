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
        "ws://[::1]:8080/ws",
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
        pytest.param("wss://relay.example.com/ws?token=s3cr3t", "must not have a ?query", id="query"),
        pytest.param("wss://relay.example.com/ws?", "must not have a ?query", id="empty-query"),
        pytest.param("wss://relay.example.com?token=s3cr3t#x", "must not have a ?query", id="query-fragment"),
        pytest.param("wss://relay.example.com/a b", "without spaces or control characters", id="space"),
        pytest.param("wss://relay.example.com/\nx", "without spaces or control characters", id="newline"),
        pytest.param("wss://relay.example.com/\x1b[2J", "without spaces or control characters", id="escape"),
        pytest.param("wss://r.example/" + "a" * 3000, "is longer than 2048 characters", id="long"),
        pytest.param(8080, "must be a string", id="number"),
        pytest.param({"url": "wss://a"}, "must be a string", id="mapping"),
    ],
)
def test_a_bad_url_is_one_line_naming_the_file_and_key(url: Any, why: str) -> None:
    with pytest.raises(ConfigError) as caught:
        relay({"url": url})
    message = str(caught.value)
    assert message.startswith(f"{PATH}: messaging.relay.url ")
    assert why in message
    assert "\n" not in message
    assert "s3cr3t" not in message
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
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "url:" in text)
    assert f"{path}:{line}:" in result.err
    assert "messaging.relay.url must start with ws:// or wss://" in result.err
    assert SECRET not in result.err
    data["messaging"]["relay"]["url"] = "wss://relay.example.com/ws"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert gregor.cli("inbox").code == 0


# -- a list of URLs (relay instances) --------------------------------------------------------------


@pytest.mark.parametrize(
    "urls",
    [
        ["wss://a.example/ws"],
        ["wss://a.example/ws", "wss://b.example/ws"],
        ["ws://127.0.0.1:8080/ws", "ws://127.0.0.1:8081/ws", "wss://c.example:443/team/ws"],
        ["ws://r.example/ws", "ws://r.example/other"],  # another path: another relay
        ["ws://r.example:80/ws", "ws://r.example:81/ws"],
    ],
)
def test_a_list_of_urls_is_kept_in_order_and_the_first_is_url(urls: list[str]) -> None:
    got = relay({"url": urls, "secret": SECRET})
    assert got.urls == tuple(urls)
    assert got.url == urls[0]
    assert (got.secret, got.secret_from) == (SECRET, "settings")


def test_one_url_is_a_list_of_one_and_no_url_an_empty_one() -> None:
    assert relay({"url": "wss://a.example/ws"}).urls == ("wss://a.example/ws",)
    assert relay({"url": ["wss://a.example/ws"]}) == relay({"url": "wss://a.example/ws"})
    assert relay({}).urls == ()


@pytest.mark.parametrize(
    ("urls", "expected"),
    [
        pytest.param([], "messaging.relay.url is an empty list (give one URL or more", id="empty"),
        pytest.param(
            ["wss://a.example/ws", "https://b.example/ws"],
            "messaging.relay.url[1] must start with ws:// or wss://",
            id="second-not-ws",
        ),
        pytest.param(["wss://a.example/ws", 8080], "messaging.relay.url[1] must be a string", id="number"),
        pytest.param(["wss://a.example/ws", None], "messaging.relay.url[1] must be a string", id="null"),
        pytest.param([["wss://a.example/ws"]], "messaging.relay.url[0] must be a string", id="nested"),
        pytest.param(["ws://x:pw@a.example"], "messaging.relay.url[0] must not hold a user", id="userinfo"),
        pytest.param(
            ["wss://a.example/ws", "wss://a.example/ws"],
            "messaging.relay.url[1] names the same relay as messaging.relay.url[0]",
            id="duplicate",
        ),
        pytest.param(
            ["wss://b.example/ws", "wss://a.example/ws", "WSS://A.Example:443/ws"],
            "messaging.relay.url[2] names the same relay as messaging.relay.url[1]",
            id="duplicate-case-and-default-port",
        ),
        pytest.param(
            ["ws://a.example", "ws://a.example:80/"],
            "messaging.relay.url[1] names the same relay as messaging.relay.url[0]",
            id="duplicate-empty-path",
        ),
        pytest.param(
            [f"ws://r{n}.example/ws" for n in range(17)],
            "messaging.relay.url lists 17 URLs; at most 16",
            id="long",
        ),
    ],
)
def test_a_bad_list_is_one_line_naming_the_item(urls: list[Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        relay({"url": urls, "secret": SECRET})
    message = str(caught.value)
    assert message.startswith(f"{PATH}: {expected}")
    assert "\n" not in message and SECRET not in message
    assert len(message) < 200


@pytest.mark.parametrize(
    ("text", "line", "column", "expected"),
    [
        pytest.param(
            "    url:\n      - ws://a.example/ws\n      - http://b.example/ws\n",
            8,
            9,
            "messaging.relay.url[1] must start with ws:// or wss://",
            id="block-list",
        ),
        pytest.param(
            "    url: [ws://a.example/ws, ws://A.example:80/ws]\n",
            6,
            30,
            "messaging.relay.url[1] names the same relay as messaging.relay.url[0]",
            id="flow-list",
        ),
        pytest.param("    url: []\n", 6, 10, "messaging.relay.url is an empty list", id="empty"),
        pytest.param(
            "    url: ftp://a.example\n", 6, 10, "messaging.relay.url must start with ws://", id="one"
        ),
        pytest.param("    secret: ''\n", 6, 13, "messaging.relay.secret is blank", id="secret"),
    ],
)
def test_a_refused_relay_setting_names_the_file_line_and_column(
    tmp_path: Path, text: str, line: int, column: int, expected: str
) -> None:
    path = tmp_path / "settings.local.yaml"
    path.write_text(
        "identity:\n  name: gregor\n# the team's relays\nmessaging:\n  relay:\n" + text, encoding="utf-8"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(caught.value).startswith(f"{path}:{line}:{column}: {expected}"), caught.value


def test_a_list_of_urls_read_from_a_file_and_the_secret_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "settings.local.yaml"
    path.write_text(
        "identity:\n  name: gregor\nmessaging:\n  relay:\n    url:\n"
        "      - wss://a.example/ws\n      - wss://b.example/ws\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("RELAY_SECRET", "from-env")
    got = load_settings(path).relay
    assert got == RelaySettings(
        "wss://a.example/ws", "from-env", "environment", urls=("wss://a.example/ws", "wss://b.example/ws")
    )
    assert "from-env" not in repr(got)
