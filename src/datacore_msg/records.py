"""Named tuples declared as with ``typing.NamedTuple``, without importing :mod:`typing` at run time.

The prompt hook runs as a whole process on every prompt, and importing :mod:`typing` costs it about
a sixth of an empty interpreter's start-up. To a type checker :data:`NamedTuple` *is*
``typing.NamedTuple`` (and :data:`TYPE_CHECKING` is ``typing.TYPE_CHECKING``); at run time
:data:`NamedTuple` builds the same class from the same declaration, as ``typing`` does: a
:func:`collections.namedtuple` of the annotated fields, with the defaults given in the body and the
body's docstring, methods and properties. Standard library only.
"""

from __future__ import annotations

__all__ = ["TYPE_CHECKING", "NamedTuple"]

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import NamedTuple
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
