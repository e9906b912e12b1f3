"""Lookalike names and sender labels: tables of names that pass for each other and names that do not,
and what the trust book makes of a sender (verified, the pinned name it looks like)."""

from __future__ import annotations

import pytest

from datacore_msg.eventlog.lookalike import Sender, glyph_skeleton, looks_alike, plain_skeleton
from datacore_msg.eventlog.trust import TrustBook

ALIKE = [
    ("tex", "Tex"),  # case
    ("tex", "TEX"),
    ("tex", "tex."),  # punctuation
    ("tex", "t.e.x"),
    ("tex", "t-e_x"),
    ("tex", "tex@"),
    ("tex", "+tex+"),
    ("tex", "t e x"),  # separators
    ("tex", "t\u00a0ex"),
    ("tex", "t\u200bex"),  # a zero-width space (a format character)
    ("tex", "\uff54\uff45\uff58"),  # full-width ｔｅｘ (NFKC)
    ("tex", "\U0001d42d\U0001d41e\U0001d431"),  # mathematical bold 𝐭𝐞𝐱 (NFKC)
    ("tex", "t\u0435x"),  # Cyrillic е
    ("tom", "t\u03bfm"),  # Greek ο
    ("gregor-claude", "gregor.claude"),
    ("gregor-claude", "GregorClaude"),
    ("lex", "Iex"),  # capital I drawn like l
    ("lex", "1ex"),
    ("tom", "t0m"),  # zero drawn like o
    ("mary", "rnary"),  # rn drawn like m
    ("will", "wiII"),
    ("wendy", "vvendy"),
]

DIFFERENT = [
    ("tex", "tex"),  # the same name is not a lookalike of itself
    ("tex", "rex"),
    ("tex", "texx"),
    ("tex", "te"),
    ("tex", "tex-claude"),  # the agent of tex is a name of its own
    ("ann", "anne"),
    ("tim", "tlm"),  # lower-case i and l are told apart
    ("ian", "lan"),
    ("tex", "t3x"),
]


@pytest.mark.parametrize(("pinned", "other"), ALIKE)
def test_names_that_pass_for_each_other_look_alike(pinned: str, other: str) -> None:
    assert looks_alike(pinned, other)
    assert looks_alike(other, pinned)


@pytest.mark.parametrize(("pinned", "other"), DIFFERENT)
def test_names_that_read_differently_do_not(pinned: str, other: str) -> None:
    assert not looks_alike(pinned, other)


@pytest.mark.parametrize(
    ("name", "plain", "glyph"),
    [
        ("Tex.", "tex", "tex"),
        ("gregor-claude", "gregorclaude", "gregorclaude"),
        ("Iex", "iex", "lex"),
        ("t0m_1", "t0m1", "toml"),
        ("rnary", "rnary", "mary"),
        ("\uff34\uff45\uff58", "tex", "tex"),
    ],
)
def test_skeletons(name: str, plain: str, glyph: str) -> None:
    assert (plain_skeleton(name), glyph_skeleton(name)) == (plain, glyph)


@pytest.mark.parametrize(
    ("sender", "label"),
    [
        (Sender("tex", True), "tex"),
        (Sender("mallory", False), "mallory (unverified)"),
        (Sender("Tex", False, "tex"), "Tex (unverified; looks like tex)"),
        (Sender("Tex", True, "tex"), "Tex (looks like tex)"),
        (Sender("gregor", False, None, True), "gregor (imported)"),
        (Sender("Tex", False, "tex", True), "Tex (imported; looks like tex)"),
    ],
)
def test_labels(sender: Sender, label: str) -> None:
    assert sender.label == label
    assert sender.marked == (label != sender.name)


OWN, TEX, OTHER = "a" * 64, "b" * 64, "c" * 64


def test_the_trust_book_says_who_is_verified_and_whom_a_name_looks_like() -> None:
    book = TrustBook(owner="gregor", keys={"gregor": {OWN}, "tex": {TEX}, "keyless": set()})
    assert book.sender("tex", TEX) == Sender("tex", True, None)
    assert book.sender("tex", OTHER) == Sender("tex", False, None)  # the name, the wrong key
    assert book.sender("tex.", OTHER) == Sender("tex.", False, "tex")
    assert book.sender("Tex", OTHER) == Sender("Tex", False, "tex")
    assert book.sender("Gregor", OTHER) == Sender("Gregor", False, "gregor")  # the owner's own name
    assert book.sender("gregor.claude", OTHER) == Sender("gregor.claude", False, "gregor-claude")
    assert book.sender("tex-claude", TEX) == Sender("tex-claude", True, None)  # backed by its owner
    # imported history: named by an old file, never verified, not even the importer's own name or
    # agent (anyone on the team could write v0.2's shared inbox)
    assert book.sender("tex", OWN, imported=True) == Sender("tex", False, None, True)
    assert book.sender("gregor", OWN, imported=True) == Sender("gregor", False, None, True)
    assert book.sender("gregor-claude", OWN, imported=True) == Sender("gregor-claude", False, None, True)
    assert book.sender("Tex-Claude", OTHER) == Sender("Tex-Claude", False, "tex-claude")
    assert book.sender("mallory", OTHER) == Sender("mallory", False, None)
    # a contact with no key pinned is no pinned name
    assert book.sender("Keyless", OTHER) == Sender("Keyless", False, None)


def test_two_pinned_names_that_look_alike_are_both_pointed_out() -> None:
    book = TrustBook(owner="gregor", keys={"gregor": {OWN}, "tex": {TEX}, "Tex": {OTHER}})
    assert book.sender("Tex", OTHER) == Sender("Tex", True, "tex")
    assert book.sender("tex", TEX) == Sender("tex", True, "Tex")
    assert book.sender("TEX", OWN) == Sender("TEX", False, "Tex")  # the first in sorted order
