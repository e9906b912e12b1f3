"""The parsed-YAML cache: keyed by the exact text, private, never trusted over the file."""

from __future__ import annotations

import datetime
import stat
from pathlib import Path

import pytest

from datacore_msg.config import yamlsafe


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "datacore-msg"


def test_plain_data_is_cached_privately_and_an_edit_is_seen(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "settings.local.yaml"
    path.write_text("identity: {name: gregor}\nlist: [1, 2.5, true, null]\n", encoding="utf-8")
    first = yamlsafe.load(path)
    assert first == {"identity": {"name": "gregor"}, "list": [1, 2.5, True, None]}
    entries = list(cache.glob("yaml-*.json"))
    assert len(entries) == 1 and stat.S_IMODE(entries[0].stat().st_mode) == 0o600
    assert yamlsafe.load(path) == first
    path.write_text("identity: {name: tex}\n", encoding="utf-8")
    assert yamlsafe.load(path) == {"identity": {"name": "tex"}}
    assert len(list(cache.glob("yaml-*.json"))) == 2


def test_a_damaged_entry_is_parsed_again(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "contacts.yaml"
    path.write_text("contacts: {tex: {}}\n", encoding="utf-8")
    yamlsafe.load(path)
    (entry,) = cache.glob("yaml-*.json")
    entry.write_text('{"v": 1, "da', encoding="utf-8")
    assert yamlsafe.load(path) == {"contacts": {"tex": {}}}
    entry.write_text('{"v": 999, "data": "stale"}', encoding="utf-8")
    assert yamlsafe.load(path) == {"contacts": {"tex": {}}}


def test_data_json_would_change_is_not_cached(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "settings.local.yaml"
    for text, data in (
        ("when: 2024-01-02\n", {"when": datetime.date(2024, 1, 2)}),
        ("1: one\n", {1: "one"}),
        ("x: .inf\n", {"x": float("inf")}),
    ):
        path.write_text(text, encoding="utf-8")
        assert yamlsafe.load(path) == data
        assert yamlsafe.load(path) == data
    assert not list(cache.glob("yaml-*.json"))
