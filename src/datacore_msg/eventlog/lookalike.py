"""Names that look alike, and how a sender's name is labelled where it is shown. Standard library only
(the Claude Code hook labels names too).

A name in an event is only a claim; the trust book (:mod:`datacore_msg.eventlog.trust`) says whether
a pinned key backs it. A reader sees only the name, though, so ``tex.``, ``Tex`` or ``t3x``... from a
key pinned nowhere would pass for the real ``tex``. Two names *look alike* when they are different
but reduce to the same skeleton under either of two normalisations:

* **plain**: NFKC, case folded, everything but letters and digits dropped (punctuation, separators,
  symbols: ``Tex``, ``tex.``, ``t-e_x``, full-width ``ｔｅｘ`` all become ``tex``);
* **glyph**: the same, after capital ``I`` became ``l`` and then ``0`` → ``o``, ``1`` → ``l``,
  ``rn`` → ``m``, ``vv`` → ``w`` (pairs that many fonts draw alike: ``Iex`` / ``lex``, ``t0m`` /
  ``tom``), and the Cyrillic and Greek letters drawn like Latin ones became those (names in events
  are ASCII today; the table keeps the check meaningful should that ever widen).

:class:`Sender` is what a view or listing shows of a sender: the name, whether a pinned key backs it,
and the pinned name it looks like; its :attr:`~Sender.label` is the name itself for a verified sender
that looks like no other, else the name with the notes in brackets (``Tex (unverified; looks like
tex)``).
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from datacore_msg.records import NamedTuple

#: Letters of other scripts drawn like Latin ones (lower case: applied after case folding).
_SCRIPTS = str.maketrans(
    {
        "а": "a",  # Cyrillic
        "в": "b",
        "е": "e",
        "һ": "h",
        "і": "i",
        "ј": "j",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "ѕ": "s",
        "ԁ": "d",
        "ԛ": "q",
        "ԝ": "w",
        "α": "a",  # Greek
        "β": "b",
        "ε": "e",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
    }
)
#: Characters and pairs many fonts draw alike, replaced in this order.
_GLYPHS = (("0", "o"), ("1", "l"), ("rn", "m"), ("vv", "w"))


def _fold(name: str) -> str:
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return "".join(char for char in folded if unicodedata.category(char)[0] in "LN")


def plain_skeleton(name: str) -> str:
    """``name`` without case, punctuation, separators or symbols, compatibility forms unified."""
    return _fold(name)


def glyph_skeleton(name: str) -> str:
    """:func:`plain_skeleton` after the characters many fonts draw alike are made one."""
    text = _fold(unicodedata.normalize("NFKC", name).replace("I", "l")).translate(_SCRIPTS)
    for seen, same in _GLYPHS:
        text = text.replace(seen, same)
    return text


@lru_cache(maxsize=4096)
def skeletons(name: str) -> tuple[str, str]:
    """The (plain, glyph) skeletons of ``name``; two names look alike when one of them is equal."""
    return plain_skeleton(name), glyph_skeleton(name)


def looks_alike(one: str, other: str) -> bool:
    """Whether two *different* names would pass for each other."""
    if one == other:
        return False
    return any(a == b for a, b in zip(skeletons(one), skeletons(other), strict=True))


class Sender(NamedTuple):
    """What is shown of a sender: the name, whether a pinned key backs it, the pinned name it looks
    like (None when none), and whether the name comes from history imported from datacore-messaging
    (then it is shown as ``imported`` rather than ``unverified``: still not verified)."""

    name: str
    verified: bool
    looks_like: str | None = None
    imported: bool = False

    @property
    def marked(self) -> bool:
        """Whether a reader must be warned (unverified, or looks like another pinned name)."""
        return not self.verified or self.looks_like is not None

    @property
    def notes(self) -> tuple[str, ...]:
        notes = () if self.verified else ("imported",) if self.imported else ("unverified",)
        if self.looks_like is not None:
            notes = (*notes, f"looks like {self.looks_like}")
        return notes

    @property
    def label(self) -> str:
        """``tex`` when nothing is to be said, else ``Tex (unverified; looks like tex)``."""
        return f"{self.name} ({'; '.join(self.notes)})" if self.notes else self.name
