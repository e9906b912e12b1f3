"""Record classes for the command paths: named tuples and frozen slotted classes, standard library only.

:class:`Record` (and :class:`MutableRecord`) replace ``attrs.frozen`` (and ``attrs.define``) where a
whole-process command imports the class: see the class's docstring.

The prompt hook runs as a whole process on every prompt, and importing :mod:`typing` costs it about
a sixth of an empty interpreter's start-up. To a type checker :data:`NamedTuple` *is*
``typing.NamedTuple`` (and :data:`TYPE_CHECKING` is ``typing.TYPE_CHECKING``); at run time
:data:`NamedTuple` builds the same class from the same declaration, as ``typing`` does: a
:func:`collections.namedtuple` of the annotated fields, with the defaults given in the body and the
body's docstring, methods and properties.
"""

from __future__ import annotations

__all__ = ["TYPE_CHECKING", "FrozenRecordError", "MutableRecord", "NamedTuple", "Record", "set_field"]

TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import ClassVar, NamedTuple, Self
else:
    from collections import namedtuple

    _NOT_COPIED = frozenset({"__module__", "__qualname__", "__annotations__"})

    class _NamedTupleMeta(type):
        def __new__(mcls, name, bases, namespace):
            if not bases:  # NamedTuple itself
                return super().__new__(mcls, name, bases, namespace)
            annotations = dict(namespace.get("__annotations__", {}))
            fields = list(annotations)
            defaults = [namespace[field] for field in fields if field in namespace]
            if any(field in namespace for field in fields[: len(fields) - len(defaults)]):
                raise TypeError(f"{name}: a field without a default follows one with a default")
            cls = namedtuple(name, fields, defaults=defaults, module=namespace.get("__module__"))
            cls.__annotations__ = annotations
            cls.__qualname__ = namespace.get("__qualname__", name)
            for key, value in namespace.items():
                if key not in _NOT_COPIED and key not in annotations:
                    setattr(cls, key, value)
            return cls

    class NamedTuple(metaclass=_NamedTupleMeta):
        """Base class of a named tuple declared with annotated fields (see the module docstring)."""


class FrozenRecordError(AttributeError):
    """An attempt to set or delete a field of a frozen :class:`Record`."""


_set = object.__setattr__


def _values_getter(fields: tuple[str, ...]) -> Callable[[object], tuple[object, ...]]:
    from operator import attrgetter

    if len(fields) > 1:
        return attrgetter(*fields)
    if fields:
        one = attrgetter(fields[0])
        return lambda record: (one(record),)
    return lambda record: ()


class Record:
    """Base of a frozen class with ``__slots__``: what ``attrs.frozen`` gives, without importing attrs.

    Importing attrs costs a command about three empty interpreters' start-up, and building each attrs
    class about a tenth of one more; a command's path therefore declares its classes as plain code. A
    subclass lists its fields in ``__slots__`` (annotated in the body for the type checker) and writes
    its own ``__init__``, which sets each field through :data:`set_field` after checking it. The
    fields are every ``__slots__`` entry along the class's bases, base first, each class's in the order
    its body annotates them; ``_UNCOMPARED`` names
    those left out of equality, hashing and ``repr`` (as ``attrs.field(eq=False)``). Equality holds
    between instances of the very same class only; :meth:`evolve` needs ``__init__`` to take each
    field by its own name, as ``attrs.evolve`` does.
    """

    __slots__ = ()
    _FIELDS: ClassVar[tuple[str, ...]] = ()
    _UNCOMPARED: ClassVar[tuple[str, ...]] = ()
    _compared: ClassVar[Callable[[object], tuple[object, ...]]]

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        fields: list[str] = []
        for base in reversed(cls.__mro__):
            slots = base.__dict__.get("__slots__", ())
            slots = (slots,) if isinstance(slots, str) else tuple(slots)
            declared = base.__dict__.get("__annotations__", {})  # noqa: RUF063 (inspect costs an import)
            fields.extend([name for name in declared if name in slots])
            fields.extend([name for name in slots if name not in declared])
        cls._FIELDS = tuple(fields)
        cls._compared = staticmethod(_values_getter(tuple(f for f in fields if f not in cls._UNCOMPARED)))

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenRecordError(f"{type(self).__name__} is frozen: cannot set {name}")

    def __delattr__(self, name: str) -> None:
        raise FrozenRecordError(f"{type(self).__name__} is frozen: cannot delete {name}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self.__class__._compared(self) == self.__class__._compared(other)

    def __ne__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self.__class__._compared(self) != self.__class__._compared(other)

    def __hash__(self) -> int:
        return hash((self.__class__, self.__class__._compared(self)))

    def __repr__(self) -> str:
        shown = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._FIELDS if f not in self._UNCOMPARED)
        return f"{type(self).__qualname__}({shown})"

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (self.__class__, {f: getattr(self, f) for f in self._FIELDS}))

    def evolve(self, **changes: object) -> Self:
        """A copy with ``changes`` applied, built (and so checked) by ``__init__``."""
        values = {f: getattr(self, f) for f in self._FIELDS}
        values.update(changes)
        return self.__class__(**values)


class MutableRecord(Record):
    """A :class:`Record` whose fields may be set after ``__init__`` (as ``attrs.define``); unhashable."""

    __slots__ = ()
    __setattr__ = object.__setattr__  # type: ignore[assignment]
    __delattr__ = object.__delattr__
    __hash__ = None  # type: ignore[assignment]


def _rebuild(cls: type[Record], values: dict[str, object]) -> Record:
    return cls(**values)


#: Sets a field of a :class:`Record` in its ``__init__`` (``object.__setattr__``).
set_field = _set
