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
