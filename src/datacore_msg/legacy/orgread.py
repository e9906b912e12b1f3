"""A tolerant reader of datacore-messaging's org files: text -> top-level entries, with line numbers.

Theory of operation
-------------------
The old files were written raw by two library versions and then edited by hand in Emacs, moved
between folders and concatenated. The reader therefore assumes as little as the formats allow and
never raises on content: every problem becomes a :class:`Problem` (line number and why) and the
entries that can still be read are read.

* Lines end in ``\\n``, ``\\r\\n`` or ``\\r``; a missing final newline changes nothing.
* An entry starts at a level-1 heading (``* ``) and runs to the next one. Deeper headings inside it
  (``** …``) are part of its body: the old writers put bodies in raw, so a body line starting with
  ``*`` was never meant as structure.
* A heading is ``* [KEYWORD] [[#P]] title [:tags:]``; the keyword is one of :data:`KEYWORDS` (v0.1's
  undeclared ``MESSAGE`` included), the tags are the trailing ``:a:b:`` group.
* Planning lines (``CLOSED:``, ``SCHEDULED:``, ``DEADLINE:``) are read until the body's first text; the first
  ``:PROPERTIES:`` drawer, at any indentation and in any case, holds ``:NAME: value`` lines until its
  ``:END:``. A drawer that does not end before the next heading makes the entry broken (reported,
  not read). Other drawers (``:LOGBOOK:``) are set aside and reported.
* The body is every other line; when all its non-blank lines carry the v0.2 writer's two-space
  indent, that indent is removed. Leading and trailing blank lines are dropped.
* Bounds: the caller bounds the file's size; a line longer than :data:`MAX_LINE_CHARS` breaks its
  entry (reported), at most :data:`MAX_PROPERTIES` properties of an entry and :data:`MAX_ENTRIES`
  entries of a file are read (the rest reported).
"""

from __future__ import annotations

import bisect
import re

import attrs

KEYWORDS = ("TODO", "WAITING", "QUEUED", "WORKING", "DONE", "CANCELLED", "ARCHIVED", "MESSAGE")
MAX_LINE_CHARS = 256 * 1024
MAX_PROPERTIES = 64
MAX_ENTRIES = 100_000

_LINE_END = re.compile(r"\r\n|\n|\r")
_HEADING = re.compile(r"\*+(?:[ \t]+(.*))?")
_KEYWORD = re.compile(r"(" + "|".join(KEYWORDS) + r")(?=[ \t]|$)[ \t]*")
_COOKIE = re.compile(r"\[#([A-Za-z0-9])\][ \t]*")
_TAGS = re.compile(r"[ \t]+(:(?:[^ \t:]+:)+)[ \t]*$")
_PLANNING = re.compile(r"[ \t]*(?:CLOSED|SCHEDULED|DEADLINE):.*")
_PLANNING_ITEM = re.compile(r"(CLOSED|SCHEDULED|DEADLINE):[ \t]*([\[<][^\]>]*[\]>])")
_DRAWER = re.compile(r"[ \t]*:([A-Za-z][A-Za-z0-9_-]*):[ \t]*")
_PROPERTY = re.compile(r"[ \t]*:([^:\s]+):(?:[ \t]+(.*?))?[ \t]*")


@attrs.frozen
class Problem:
    line: int
    why: str


@attrs.frozen
class Entry:
    """One top-level entry as the file had it. ``properties`` maps upper-cased names to values (the
    first of a repeated name wins; repeats are in ``problems``)."""

    line: int
    keyword: str | None
    priority: str | None
    title: str
    tags: tuple[str, ...]
    planning: dict[str, str]
    properties: dict[str, str]
    property_lines: dict[str, int]
    body: str
    problems: tuple[Problem, ...] = ()


@attrs.frozen
class OrgFile:
    entries: tuple[Entry, ...]
    #: Entries that could not be read at all, and text outside any entry.
    problems: tuple[Problem, ...]


def split_lines(text: str) -> list[str]:
    lines = _LINE_END.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _is_heading(line: str) -> bool:
    return line.startswith("* ") or line.startswith("*\t") or line == "*"


def read_org(text: str) -> OrgFile:
    """Every top-level entry of ``text`` that can be read, and the problems found."""
    lines = split_lines(text)
    starts = [index for index, line in enumerate(lines) if _is_heading(line)]
    problems: list[Problem] = []
    preamble = lines[: starts[0]] if starts else lines
    for number, line in enumerate(preamble, 1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            problems.append(Problem(number, "text before the first entry is not part of any entry"))
            break
    entries: list[Entry] = []
    if len(starts) > MAX_ENTRIES:
        problems.append(
            Problem(
                starts[MAX_ENTRIES] + 1,
                f"more than {MAX_ENTRIES} entries: this one and the rest are not read",
            )
        )
        starts, lines = starts[: MAX_ENTRIES + 1], lines[: starts[MAX_ENTRIES]]
    for position, start in enumerate(starts[:MAX_ENTRIES]):
        end = starts[position + 1] if position + 1 < len(starts) else len(lines)
        entry, broken = _entry(lines, start, end)
        if entry is not None:
            entries.append(entry)
        else:
            assert broken is not None
            problems.append(broken)
    return OrgFile(tuple(entries), tuple(problems))


def _heading(line: str) -> tuple[str | None, str | None, str, tuple[str, ...]]:
    """(keyword, priority, title, tags) of a heading line."""
    match = _HEADING.fullmatch(line)
    rest = (match.group(1) if match else "") or ""
    keyword = None
    found = _KEYWORD.match(rest)
    if found:
        keyword, rest = found.group(1), rest[found.end() :]
    priority = None
    cookie = _COOKIE.match(rest)
    if cookie:
        priority, rest = cookie.group(1).upper(), rest[cookie.end() :]
    tags: tuple[str, ...] = ()
    tagged = _TAGS.search(" " + rest)
    if tagged:
        tags = tuple(tag for tag in tagged.group(1).split(":") if tag)
        rest = (" " + rest)[: tagged.start()].strip()
    title = rest.strip()
    return keyword, priority, title, tags


def _entry(lines: list[str], start: int, end: int) -> tuple[Entry | None, Problem | None]:
    number = start + 1
    for offset in range(start, end):
        if len(lines[offset]) > MAX_LINE_CHARS:
            return None, Problem(
                offset + 1, f"a line of {len(lines[offset])} characters (limit {MAX_LINE_CHARS})"
            )
    keyword, priority, title, tags = _heading(lines[start])

    index = start + 1
    planning: dict[str, str] = {}
    properties: dict[str, str] = {}
    property_lines: dict[str, int] = {}
    problems: list[Problem] = []
    body: list[str] = []
    seen_properties = False
    started = False
    ends = [i for i in range(index, end) if lines[i].strip().upper() == ":END:"]
    while index < end:
        line = lines[index]
        if not started and _PLANNING.fullmatch(line):
            for word, value in _PLANNING_ITEM.findall(line):
                planning.setdefault(word, value)
            index += 1
            continue
        drawer = _DRAWER.fullmatch(line)
        if drawer is None or drawer.group(1).upper() == "END":
            body.append(line)
            started = started or bool(line.strip())
            index += 1
            continue
        name = drawer.group(1).upper()
        after = bisect.bisect_right(ends, index)
        close = ends[after] if after < len(ends) else None
        if close is None:
            if name == "PROPERTIES" and not seen_properties:
                return None, Problem(
                    index + 1, f"the :PROPERTIES: drawer of the entry at line {number} has no :END:"
                )
            problems.append(Problem(index + 1, f"a :{drawer.group(1)}: drawer without :END: (read as text)"))
            body.append(line)
            index += 1
            continue
        if name == "PROPERTIES" and not seen_properties:
            seen_properties = True
            for at in range(index + 1, close):
                _property(lines[at], at + 1, properties, property_lines, problems)
        else:
            problems.append(Problem(index + 1, f"the :{drawer.group(1)}: drawer is not imported"))
        index = close + 1
    return (
        Entry(
            line=number,
            keyword=keyword,
            priority=priority,
            title=title,
            tags=tags,
            planning=planning,
            properties=properties,
            property_lines=property_lines,
            body=_body_text(body),
            problems=tuple(problems),
        ),
        None,
    )


def _property(
    line: str, number: int, properties: dict[str, str], lines: dict[str, int], problems: list[Problem]
) -> None:
    if not line.strip():
        return
    match = _PROPERTY.fullmatch(line)
    if match is None:
        problems.append(Problem(number, "not a property line (read as nothing)"))
        return
    name = match.group(1).upper().rstrip("+")
    if name in properties:
        problems.append(Problem(number, f"{name} is given twice; the first value is kept"))
        return
    if len(properties) >= MAX_PROPERTIES:
        problems.append(Problem(number, f"more than {MAX_PROPERTIES} properties; {name} is not read"))
        return
    properties[name] = (match.group(2) or "").strip()
    lines[name] = number


def _body_text(lines: list[str]) -> str:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    filled = [line for line in lines if line.strip()]
    if filled and all(line.startswith("  ") for line in filled):
        lines = [line[2:] if line.startswith("  ") else line.strip() for line in lines]
    return "\n".join(line.rstrip() for line in lines)
