"""Every relative link in the README, the CHANGELOG and docs/*.md leads somewhere: the file exists,
and a ``#anchor`` names a heading of that file (GitHub's heading ids: lower case, punctuation
dropped, spaces made hyphens, ``-1``, ``-2`` … for repeats). Links inside code blocks and inline
code are not links; links to other sites are not checked (no network in tests)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").glob("*.md"))]

FENCE = re.compile(r"^(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def prose_lines(text: str, *, inline_code: bool = False) -> list[tuple[int, str]]:
    """The page's lines outside fenced code blocks, with line numbers; inline code removed unless
    ``inline_code`` (headings keep their backticked words)."""
    lines: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line if inline_code else INLINE_CODE.sub("", line)))
    return lines


def slug(heading: str) -> str:
    """GitHub's id for a heading's text."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    text = text.replace("`", "").strip().lower()
    kept = [ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LN"]
    return "".join(kept).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in prose_lines(page.read_text(encoding="utf-8"), inline_code=True):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[tuple[int, str]]:
    return [
        (number, target)
        for number, line in prose_lines(page.read_text(encoding="utf-8"))
        for target in LINK.findall(line)
    ]


def broken(page: Path, root: Path = REPO) -> list[str]:
    problems: list[str] = []
    for number, target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: …
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        where = f"{page.relative_to(root)}:{number}: ({target})"
        if not dest.exists():
            problems.append(f"{where} no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{where} no heading with the id #{anchor} in {dest.relative_to(root)}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    assert not broken(page), "\n".join(broken(page))


def test_the_checker_sees_links_and_anchors(tmp_path: Path) -> None:
    """The checker itself: it finds a good link good and each kind of bad one bad."""
    other = "# Other\n\n## Beyond one host: NATS `JetStream`\n\n## Twice\n\n## Twice\n"
    (tmp_path / "other.md").write_text(other)
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n"
        "[ok](other.md#beyond-one-host-nats-jetstream) [ok](other.md#twice-1) [ok](#page)\n"
        "[no file](missing.md) [no anchor](other.md#nowhere) [no local anchor](#nowhere)\n"
        "`[in code](missing.md)`\n\n```\n[in a block](missing.md)\n```\n"
        "[site](https://example.org/x#y)\n"
    )
    found = broken(page, root=tmp_path)
    assert [line.split(" (")[1].split(")")[0] for line in found] == [
        "missing.md",
        "other.md#nowhere",
        "#nowhere",
    ]
