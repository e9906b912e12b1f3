"""``records.NamedTuple`` builds what ``typing.NamedTuple`` builds, and the prompt hook's modules do
without importing ``typing`` (what the stand-in is for)."""

from __future__ import annotations

import pickle
import subprocess
import sys
import typing

import pytest

from datacore_msg.records import NamedTuple


class Light(NamedTuple):
    """A record."""

    name: str
    count: int
    note: str | None = None
    done: bool = False

    @property
    def label(self) -> str:
        return f"{self.name}:{self.count}"

    def doubled(self) -> int:
        return 2 * self.count


class Typed(typing.NamedTuple):
    """A record."""

    name: str
    count: int
    note: str | None = None
    done: bool = False

    @property
    def label(self) -> str:
        return f"{self.name}:{self.count}"

    def doubled(self) -> int:
        return 2 * self.count


def test_the_class_is_the_one_typing_builds() -> None:
    light, typed = Light("a", 2), Typed("a", 2)
    assert light == typed == ("a", 2, None, False)
    assert repr(light) == repr(typed).replace("Typed", "Light")
    assert Light._fields == Typed._fields
    assert Light._field_defaults == Typed._field_defaults
    assert Light.__annotations__.keys() == Typed.__annotations__.keys()  # (as written: no ForwardRef)
    assert Light.__doc__ == Typed.__doc__ == "A record."
    assert (Light.__module__, Light.__qualname__) == (__name__, "Light")
    assert (light.label, light.doubled()) == (typed.label, typed.doubled())
    assert light._asdict() == typed._asdict()
    assert light._replace(done=True) == typed._replace(done=True)
    assert Light(**{"name": "b", "count": 1, "done": True}) == Typed(name="b", count=1, done=True)
    assert pickle.loads(pickle.dumps(light)) == light
    assert isinstance(light, tuple) and not hasattr(light, "__dict__")
    with pytest.raises(TypeError):
        Light("only a name")  # type: ignore[call-arg]


def test_a_field_without_a_default_after_one_with_a_default_is_refused() -> None:
    with pytest.raises(TypeError):

        class Bad(NamedTuple):  # type: ignore[misc]
            first: int = 1
            second: int


@pytest.mark.parametrize(
    ("modules", "absent"),
    [
        (
            "datacore_msg.cli.hookrun, datacore_msg.hooks.prompt, datacore_msg.readmodels.hookread",
            ("typing", "pathlib", "datacore_msg.hooks.compose"),
        ),
        (
            "datacore_msg.cli.searchrun, datacore_msg.cli.search_format, datacore_msg.cli.output, "
            "datacore_msg.readmodels.searchindex, datacore_msg.eventlog.lookalike",
            ("typing", "pathlib"),
        ),
    ],
    ids=["prompt hook", "search"],
)
def test_the_fast_paths_do_not_import_typing(modules: str, absent: tuple[str, ...]) -> None:
    code = f"import sys\nimport {modules}\nprint(sorted(m for m in {absent!r} if m in sys.modules))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- Record ----------------------------------------------------------------------------------------

import copy  # noqa: E402

from datacore_msg.records import FrozenRecordError, MutableRecord, Record, set_field  # noqa: E402


class Point(Record):
    __slots__ = ("note", "x", "y")
    _UNCOMPARED = ("note",)
    x: int
    y: int
    note: str

    def __init__(self, x: int, y: int = 0, note: str = "") -> None:
        if x < 0:
            raise ValueError("x: negative")
        set_field(self, "x", x)
        set_field(self, "y", y)
        set_field(self, "note", note)


class Point3(Point):
    __slots__ = ("z",)
    z: int

    def __init__(self, x: int, y: int = 0, note: str = "", z: int = 0) -> None:
        super().__init__(x, y, note)
        set_field(self, "z", z)


class Single(Record):
    __slots__ = ("v",)
    v: str

    def __init__(self, v: str) -> None:
        set_field(self, "v", v)


class Empty(Record):
    __slots__ = ()


class Counter(MutableRecord):
    __slots__ = ("n",)
    n: int

    def __init__(self, n: int = 0) -> None:
        self.n = n


def test_a_record_is_frozen_and_compares_by_class_and_compared_fields() -> None:
    p = Point(1, 2, "a")
    with pytest.raises(FrozenRecordError, match="Point is frozen: cannot set x"):
        p.x = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del p.y
    with pytest.raises(AttributeError):
        p.other = 1  # type: ignore[attr-defined]
    assert p == Point(1, 2, "b") and hash(p) == hash(Point(1, 2, "b"))
    assert p != Point(1, 3) and (p == Point(1, 3)) is False
    assert p != Point3(1, 2) and Point3(1, 2, z=1) != Point3(1, 2, z=2)
    assert Single("a") == Single("a") and Single("a") != Single("b") and Empty() == Empty()
    assert p != (1, 2) and Single("a") != "a"
    assert repr(p) == "Point(x=1, y=2)" and repr(Point3(1, z=4)) == "Point3(x=1, y=0, z=4)"
    assert Point3._FIELDS == ("x", "y", "note", "z")


def test_evolve_builds_through_init_and_keeps_the_class() -> None:
    p = Point3(1, 2, "n", 3)
    q = p.evolve(y=5)
    assert type(q) is Point3 and (q.x, q.y, q.note, q.z) == (1, 5, "n", 3) and p.y == 2
    with pytest.raises(ValueError, match="negative"):
        p.evolve(x=-1)
    with pytest.raises(TypeError):
        p.evolve(w=1)


def test_records_pickle_and_copy() -> None:
    p = Point3(1, 2, "n", 3)
    for clone in (pickle.loads(pickle.dumps(p)), copy.copy(p), copy.deepcopy(p)):
        assert clone == p and clone.note == "n" and clone is not p


def test_a_mutable_record_may_change_and_is_unhashable() -> None:
    c = Counter()
    c.n += 2
    assert c == Counter(2) and repr(c) == "Counter(n=2)"
    with pytest.raises(TypeError):
        hash(c)
