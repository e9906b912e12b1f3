"""The command paths' classes built on :class:`~datacore_msg.records.Record` keep what ``attrs`` gave
them: ``__init__`` takes every field by its name (``evolve`` and pickling rely on it), the frozen ones
refuse assignment and hash, the mutable ones do not hash, and each class's converter and derived
default still hold."""

from __future__ import annotations

import importlib
import inspect
import pickle
from pathlib import Path

import pytest

from datacore_msg.records import FrozenRecordError, MutableRecord, Record

MODULES = (
    "datacore_msg.app.governance",
    "datacore_msg.app.messages",
    "datacore_msg.app.relocation",
    "datacore_msg.app.space",
    "datacore_msg.app.tasks",
    "datacore_msg.app.views",
    "datacore_msg.config.contacts",
    "datacore_msg.config.paths",
    "datacore_msg.config.settings",
    "datacore_msg.governor.decide",
    "datacore_msg.governor.policy",
    "datacore_msg.migrations.runner",
    "datacore_msg.projections.drivers.catchup",
    "datacore_msg.projections.drivers.writer",
    "datacore_msg.projections.messages",
    "datacore_msg.projections.tasks",
    "datacore_msg.readmodels.entry",
    "datacore_msg.readmodels.taskcache",
    "datacore_msg.readmodels.viewcache",
    "datacore_msg.transport.protocol_limits",
)
#: The classes that were ``attrs.define`` (mutable, unhashable).
MUTABLE = {"Space", "SpaceOpener", "TokenBucket", "_Record"}


def _classes() -> list[type[Record]]:
    found = []
    for name in MODULES:
        module = importlib.import_module(name)
        found.extend(
            cls
            for cls in vars(module).values()
            if isinstance(cls, type) and issubclass(cls, Record) and cls.__module__ == name
        )
    return found


CLASSES = _classes()


def test_every_module_has_its_records() -> None:
    modules = {cls.__module__ for cls in CLASSES}
    assert modules == set(MODULES)


@pytest.mark.parametrize("cls", CLASSES, ids=[c.__qualname__ for c in CLASSES])
def test_init_takes_every_field_by_name_in_field_order(cls: type[Record]) -> None:
    params = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]
    assert [p.name for p in params] == [f.removeprefix("_") for f in cls._FIELDS]
    assert all(p.kind is not inspect.Parameter.POSITIONAL_ONLY for p in params)
    assert set(cls._FIELDS) == {s for c in cls.__mro__ for s in c.__dict__.get("__slots__", ())}


@pytest.mark.parametrize("cls", CLASSES, ids=[c.__qualname__ for c in CLASSES])
def test_frozen_or_mutable_as_before(cls: type[Record]) -> None:
    assert issubclass(cls, MutableRecord) is (cls.__name__ in MUTABLE)
    assert (cls.__hash__ is None) is (cls.__name__ in MUTABLE)


def test_a_frozen_record_refuses_assignment_and_evolves_checked() -> None:
    from datacore_msg.governor.policy import DEFAULT_TIERS, ComputeLimits

    owner = DEFAULT_TIERS["owner"]
    with pytest.raises(FrozenRecordError):
        owner.max_effort = 3  # type: ignore[misc]
    changed = owner.evolve(max_effort=3)
    assert (changed.max_effort, owner.max_effort, changed.priority_boost) == (3, 0, 2.0)
    assert changed != owner and owner.evolve() == owner and hash(owner.evolve()) == hash(owner)
    assert pickle.loads(pickle.dumps(ComputeLimits(tasks_per_hour=9))) == ComputeLimits(tasks_per_hour=9)
    with pytest.raises(TypeError):
        ComputeLimits(tasks_per_hour=9).evolve(per_hour=9)


@pytest.mark.parametrize(
    ("args", "kwargs", "urls"),
    [
        ((), {}, ()),
        (("wss://a.example/ws",), {}, ("wss://a.example/ws",)),
        (
            ("wss://a.example/ws",),
            {"urls": ["wss://a.example/ws", "ws://b.example"]},
            ("wss://a.example/ws", "ws://b.example"),
        ),
        ((None,), {"urls": iter(["ws://c.example"])}, ("ws://c.example",)),
    ],
    ids=["no relay", "one url", "a list becomes a tuple", "any iterable"],
)
def test_relay_urls_default_to_the_url_and_are_a_tuple(
    args: tuple[str | None, ...], kwargs: dict[str, object], urls: tuple[str, ...]
) -> None:
    from datacore_msg.config.settings import RelaySettings

    assert RelaySettings(*args, **kwargs).urls == urls  # type: ignore[arg-type]


def test_relay_urls_are_keyword_only_and_the_secret_compares_but_is_never_shown() -> None:
    from datacore_msg.config.settings import RelaySettings

    with pytest.raises(TypeError):
        RelaySettings("ws://a.example", "s", "settings", ("ws://a.example",))  # type: ignore[misc]
    one = RelaySettings("ws://a.example", "s3cret", "settings")
    assert one != RelaySettings("ws://a.example", "other", "settings")
    assert (
        repr(one) == "RelaySettings(url='ws://a.example', secret_from='settings', urls=('ws://a.example',))"
    )


@pytest.mark.parametrize(("tokens", "expected"), [(-1.0, 7.0), (-0.5, 7.0), (0.0, 0.0), (3.0, 3.0)])
def test_a_token_bucket_starts_full_unless_told(tokens: float, expected: float) -> None:
    from datacore_msg.transport.protocol_limits import TokenBucket

    assert TokenBucket(1.0, 7.0, tokens).tokens == expected
    assert TokenBucket(1.0, 7.0).tokens == 7.0


def test_a_views_not_updated_report_evolves_as_itself() -> None:
    from datacore_msg.app.exchange import merged_reports
    from datacore_msg.app.views import ViewsNotUpdated
    from datacore_msg.projections.drivers.writer import WriteReport

    first = WriteReport(["inbox.org"], [("a.org", "a.org.edited")], ["a.org"])
    last = ViewsNotUpdated(stored="the message", cause="locked")
    merged = merged_reports([first, last])
    assert type(merged) is ViewsNotUpdated
    assert merged == ViewsNotUpdated(
        ["inbox.org"], [("a.org", "a.org.edited")], ["a.org"], "the message", "locked"
    )
    assert merged.warnings == [
        "the message is stored, but the views could not be updated: locked; the next command repairs them"
    ]
    assert WriteReport().written == [] and WriteReport().written is not WriteReport().written


def test_paths_compare_and_hash_by_value() -> None:
    from datacore_msg.config.paths import Paths

    a = Paths(Path("/r"), "0-personal", Path("/s"))
    assert a == Paths(Path("/r"), "0-personal", Path("/s")) and len({a, a.evolve()}) == 1
    assert a.db_file == Path("/s/spaces/0-personal/events.sqlite3")
