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
        ("when: 2024-01-02 10:30:00\n", {"when": datetime.datetime(2024, 1, 2, 10, 30)}),
        ("1: one\n", {1: "one"}),
        ("x: .inf\n", {"x": float("inf")}),
        ('x: {"\\0date": "2024-01-02"}\n', {"x": {"\u0000date": "2024-01-02"}}),
    ):
        path.write_text(text, encoding="utf-8")
        assert yamlsafe.load(path) == data
        assert yamlsafe.load(path) == data
    assert not list(cache.glob("yaml-*.json"))


def test_dates_are_cached_and_come_back_as_dates(tmp_path: Path, cache: Path) -> None:
    """contacts.yaml as ``contacts add`` writes it (``added: 2026-11-24``) is read from the cache."""
    path = tmp_path / "contacts.yaml"
    path.write_text("actors:\n  - id: tex\n    added: 2026-11-24\n    when: [0001-02-03]\n", encoding="utf-8")
    expected = {
        "actors": [{"id": "tex", "added": datetime.date(2026, 11, 24), "when": [datetime.date(1, 2, 3)]}]
    }
    assert yamlsafe.load(path) == expected
    (entry,) = cache.glob("yaml-*.json")
    again = yamlsafe.load(path)
    assert again == expected and type(again["actors"][0]["added"]) is datetime.date
    entry.write_text('{"v": 3, "data": {"x": {"\\u0000date": "2026-13-01"}}}', encoding="utf-8")
    assert yamlsafe.load(path) == expected
    entry.write_text('{"v": 3, "data": {"x": {"\\u0000date": 5}}}', encoding="utf-8")
    assert yamlsafe.load(path) == expected
