"""Editing ``contacts.yaml`` in place: ``datacore-msg contacts add/remove``.

The file's format and its strict reading are :mod:`datacore_msg.config.contacts`'s. Editing
(:func:`add_contact`, :func:`remove_contact`) must not destroy what people wrote by hand, so it
is a round trip, never a re-dump: the file is validated as a whole (PyYAML with the reader's rules, and
ruamel.yaml, which also refuses duplicate keys), then only the text of the touched ``actors[]`` item is
replaced. That item goes through ruamel.yaml's round-trip mode (comments, quotes, key order and
unknown keys kept; indentation taken from the file), a new item is rendered by it and inserted after
the last one, a removed item's lines are cut out together with the comment lines right above it.
Every other byte of the file stays as it was. (Dumping the whole document through ruamel would
re-space hand-aligned values everywhere and attach the comments between items to the wrong item.)
Before writing, the new text is read back with PyYAML and must equal the old data with exactly the
intended change; a file that does not parse or validate is refused and never overwritten. Every PyYAML
read goes through :mod:`datacore_msg.config.yamlsafe` (bounded size and aliases), so ruamel.yaml only
ever sees text that passed it. Files are
written with :func:`datacore_msg.fsutil.atomic_write`, and only when something changed. ruamel.yaml
is imported only when an edit runs.
"""

from __future__ import annotations

import bisect
import copy
import datetime as dt
import itertools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from datacore_msg.config.contacts import KEY_HELP, TIERS, Contact, load_contacts, parse_contacts
from datacore_msg.config.yamlsafe import MAX_DETAIL, clip, parse, quote, read_text
from datacore_msg.errors import ConfigError, InvalidInput, NotFound
from datacore_msg.eventlog.names import check_actor
from datacore_msg.eventlog.signing import is_public_key

if TYPE_CHECKING:
    import yaml
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

HEADER = (
    "# Contacts of this space and the signing keys pinned for them (datacore-msg).\n"
    "# Edit with `datacore-msg contacts add/remove` or by hand; comments and layout are kept.\n"
)

_NEW_FILE_MODE = 0o644
# Indentation of a new ``actors`` list: ``actors:`` / ``  - id: x`` / ``    name: y``.
_DEFAULT_SEQUENCE, _DEFAULT_OFFSET, _DEFAULT_MAPPING = 4, 2, 2
_WRAPPER = "actors:\n"


@attrs.frozen
class ContactChange:
    actor: str
    created_file: bool
    added_entry: bool  # a new actors[] item was appended
    added_key: bool  # the key was not pinned before
    tier_changed: bool


# -- checking arguments ----------------------------------------------------------------------------


def _check_key(public_key: str) -> str:
    canonical = public_key.lower() if isinstance(public_key, str) else None
    if canonical is None or not is_public_key(canonical):
        raise InvalidInput(f"public key {quote(public_key)} {KEY_HELP}")
    return canonical


def _check_tier(tier: str) -> str:
    if tier not in TIERS:
        raise InvalidInput(f"tier {quote(tier)} is not one of {', '.join(TIERS)}")
    return tier


def _check_today(today: str) -> dt.date:
    try:
        if len(today) != 10:
            raise ValueError(today)
        return dt.date.fromisoformat(today)
    except (TypeError, ValueError):
        raise InvalidInput(f"today {quote(today)} is not a date (YYYY-MM-DD)") from None


def _check_name(name: str | None) -> str | None:
    if name is not None and (not isinstance(name, str) or not name.strip() or not name.isprintable()):
        raise InvalidInput(f"name {quote(name)} must be one line of printable text")
    return name


# -- editing -------------------------------------------------------------------------------------


def add_contact(
    path: Path, actor: str, public_key: str, tier: str, today: str, name: str | None = None
) -> ContactChange:
    """Pin ``public_key`` for ``actor`` and set its trust tier (and display name, if given).

    An existing entry keeps its other keys (a single key becomes a list when a second one is
    pinned); a new entry is appended; a missing file is created with a short header. Nothing is
    written when nothing changes."""
    check_actor(actor, "actor")
    key = _check_key(public_key)
    _check_tier(tier)
    added = _check_today(today)
    _check_name(name)

    doc = _Document.read(path)
    index = doc.index_of(actor)
    if index is not None:
        contact = doc.contacts[index]
        new_key = key if key not in contact.public_keys else None
        new_tier = tier if tier != contact.tier else None
        new_name = name if name is not None and name != contact.name else None
        if new_key is None and new_tier is None and new_name is None:
            return ContactChange(actor, False, False, False, False)
        text, expected = doc.edit_item(index, key=new_key, tier=new_tier, name=new_name)
        doc.write(text, expected)
        return ContactChange(actor, False, False, new_key is not None, new_tier is not None)

    entry: dict[str, Any] = {"id": actor}
    if name is not None:
        entry["name"] = name
    entry.update({"trust_tier": tier, "added": added, "public_key": key})
    text, expected = doc.append_item(entry)
    doc.write(text, expected)
    return ContactChange(actor, not doc.exists, True, True, True)


def add_unpinned_contact(
    path: Path,
    actor: str,
    today: str,
    name: str | None = None,
    tier: str | None = None,
    handles: tuple[str, ...] = (),
) -> bool:
    """Add ``actor`` with no key pinned (a contact of the system we replace), unless the file has
    it already; whether it was added. ``contacts list`` shows it as having no key yet."""
    check_actor(actor, "actor")
    added = _check_today(today)
    _check_name(name)
    if tier is not None:
        _check_tier(tier)
    doc = _Document.read(path)
    if doc.index_of(actor) is not None:
        return False
    entry: dict[str, Any] = {"id": actor}
    if name is not None:
        entry["name"] = name
    if handles:
        entry["handles"] = [handle for handle in handles if handle.isprintable()]
    if tier is not None:
        entry["trust_tier"] = tier
    entry["added"] = added
    text, expected = doc.append_item(entry)
    doc.write(text, expected)
    return True


def remove_contact(path: Path, actor: str) -> Contact:
    """Delete ``actor``'s entry (and the comment lines right above it); return what was removed."""
    check_actor(actor, "actor")
    doc = _Document.read(path)
    index = doc.index_of(actor)
    if index is None:
        raise NotFound(f"{path}: no contact named {quote(actor)}")
    text, expected = doc.remove_item(index)
    doc.write(text, expected)
    return doc.contacts[index]


@attrs.frozen
class _Item:
    """Where one ``actors[]`` item is in the text (character offsets)."""

    line_start: int  # start of the line holding its dash
    cut: int  # just after its last line (end-of-line comment included)
    dash_col: int
    content_col: int  # column of its first key (or of ``{``)
    map_indent: int | None  # indentation of a nested block mapping in it, if any
    problem: str | None  # why its text cannot be located safely (it is then left alone)

    def usable(self) -> _Item:
        if self.problem:
            raise ConfigError(self.problem)
        return self


@attrs.define
class _Document:
    path: Path
    exists: bool
    text: str
    data: Any  # PyYAML's reading of ``text``
    contacts: list[Contact]

    @classmethod
    def read(cls, path: Path) -> _Document:
        load_contacts(path)  # malformed YAML -> file:line:col; then the field checks
        text = read_text(path)
        if text is None:
            return cls(path, False, "", None, [])
        data = parse(text, path)
        contacts = parse_contacts(data, path)  # the text just read (it may have changed in between)
        _ruamel_load(text, path)
        return cls(path, True, text, data, contacts)

    def index_of(self, actor: str) -> int | None:
        return next((i for i, contact in enumerate(self.contacts) if contact.id == actor), None)

    @property
    def newline(self) -> str:
        return "\r\n" if "\r\n" in self.text else "\n"

    # The three edits return the new text and the data it must read back as.

    def edit_item(self, index: int, key: str | None, tier: str | None, name: str | None) -> tuple[str, Any]:
        item = _layout(self.text, self.path)[index].usable()
        old_keys = self.data["actors"][index].get("public_key")

        def change(entry: CommentedMap) -> None:
            from ruamel.yaml.comments import CommentedSeq

            if name is not None:
                _set(entry, "name", _scalar(name), after=("id",))
            if tier is not None:
                _set(entry, "trust_tier", tier, after=("name", "id"))
            if key is not None:
                current = entry.get("public_key")
                if isinstance(current, list):
                    current.append(_scalar(key))
                elif current is None:
                    _set(entry, "public_key", _scalar(key), after=())
                else:  # one key: a list of two (a key that YAML 1.2 reads as a number is re-quoted)
                    first = current if isinstance(current, str) else _scalar(old_keys)
                    entry["public_key"] = CommentedSeq([first, _scalar(key)])

        rendered = _round_trip(self.text[item.line_start : item.cut], item, change, self.path)
        text = self.text[: item.line_start] + self._lines(rendered) + self.text[item.cut :]

        expected = copy.deepcopy(self.data)
        entry = expected["actors"][index]
        if name is not None:
            entry["name"] = name
        if tier is not None:
            entry["trust_tier"] = tier
        if key is not None:
            if isinstance(old_keys, list):
                entry["public_key"] = [*old_keys, key]
            else:
                entry["public_key"] = key if old_keys is None else [old_keys, key]
        return text, expected

    def append_item(self, entry: dict[str, Any]) -> tuple[str, Any]:
        from ruamel.yaml.comments import CommentedMap

        text = self._with_block_actors()
        items = _layout(text, self.path)
        if items:
            last = items[-1].usable()
            offset, sequence, mapping = last.dash_col, last.content_col, last.map_indent
            point = last.cut
        else:
            offset, sequence, mapping = _DEFAULT_OFFSET, _DEFAULT_SEQUENCE, None
            point = _actors_line_end(text, self.path)
        new = CommentedMap()
        for field, value in entry.items():
            new[field] = _scalar(value) if isinstance(value, str) else value
        yaml = _ruamel(sequence, offset, mapping)
        rendered = _dump(yaml, {"actors": [new]})
        head, tail = text[:point], text[point:]
        if head and not head.endswith("\n"):
            head += self.newline
        if _blank_between_items(text, items):
            head += self.newline
        text = head + self._lines(rendered) + tail

        expected = copy.deepcopy(self.data) if isinstance(self.data, dict) else {}
        if expected.get("actors") is None:
            expected["actors"] = []
        expected["actors"].append(dict(entry))
        return text, expected

    def remove_item(self, index: int) -> tuple[str, Any]:
        items = _layout(self.text, self.path)
        item = items[index].usable()
        if index == 0:
            floor = _actors_line_end(self.text, self.path)
        else:  # comments above the item are its own only when the item before ends cleanly
            floor = item.line_start if items[index - 1].problem else items[index - 1].cut
        start = item.line_start
        while start > floor:  # the comment lines right above the item are its own
            previous = self.text.rfind("\n", 0, start - 1) + 1
            if not self.text[previous:start].lstrip().startswith("#") or previous < floor:
                break
            start = previous
        head, tail = self.text[:start], self.text[item.cut :]
        if _ends_with_blank_line(head) and (not tail.strip() or _starts_with_blank_line(tail)):
            head = _drop_last_blank_line(head)  # the blank lines around it become one
        elif start == floor and index == 0 and _starts_with_blank_line(tail):
            tail = tail.split("\n", 1)[1]  # no blank line right under ``actors:``
        text = head + tail
        expected = copy.deepcopy(self.data)
        del expected["actors"][index]
        if not expected["actors"]:
            expected["actors"] = None  # ``actors:`` with nothing under it
        return text, expected

    def _lines(self, rendered: str) -> str:
        return rendered.replace("\n", self.newline) if self.newline != "\n" else rendered

    def _with_block_actors(self) -> str:
        """The text, changed if needed so that ``actors`` is a block list (maybe empty) in it."""
        import yaml

        text = self.text
        if not text.strip():  # a new (or blank) file
            return HEADER + _WRAPPER
        data = self.data
        if data is None:
            return text + ("" if text.endswith("\n") else self.newline) + _WRAPPER.replace("\n", self.newline)
        root = _compose(text, self.path)
        assert isinstance(root, yaml.MappingNode)  # validated: the top level is a mapping
        actors = _actors_value(root)
        flow_list = isinstance(actors, yaml.SequenceNode) and actors.flow_style and actors.value
        if root.flow_style or flow_list:
            text = _block_style(text, self.path)
            root = _compose(text, self.path)
            actors = _actors_value(root)
        if actors is None:
            indent = " " * root.start_mark.column
            newline = self.newline
            return text + ("" if text.endswith("\n") else newline) + indent + _WRAPPER.replace("\n", newline)
        empty = isinstance(actors, yaml.ScalarNode) or not actors.value
        if empty and actors.start_mark.index < actors.end_mark.index:  # ``~``, ``null``, ``[]``: drop it
            start, end = actors.start_mark.index, actors.end_mark.index
            return text[:start].rstrip(" \t") + text[end:]
        return text

    def write(self, text: str, expected: Any) -> None:
        from datacore_msg.fsutil import atomic_write

        try:
            data = parse(text, self.path)
        except ConfigError as exc:
            raise ConfigError(
                f"{self.path}: cannot edit this file safely ({_one_line(exc)}); edit it by hand"
            ) from None
        if not _same(data, expected):
            raise ConfigError(
                f"{self.path}: cannot edit this file safely (other values would read back differently); "
                "edit it by hand"
            )
        parse_contacts(data, self.path)
        _ruamel_load(text, self.path)
        try:
            mode = os.stat(self.path).st_mode & 0o777
        except FileNotFoundError:
            mode = _NEW_FILE_MODE
        atomic_write(self.path, text.encode("utf-8"), mode=mode)


# -- text positions (PyYAML nodes: the same parser as load_contacts) ---------------------------------


def _compose(text: str, path: Path) -> yaml.Node:
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: malformed YAML: {_one_line(exc)}") from None
    if node is None:
        raise ConfigError(f"{path}: cannot edit this file (no YAML document in it); edit it by hand")
    return node


def _actors_value(root: yaml.Node) -> yaml.Node | None:
    import yaml

    assert isinstance(root, yaml.MappingNode)
    found = None
    for key, value in root.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "actors":
            found = value
    return found


def _actors_line_end(text: str, path: Path) -> int:
    """Just after the line of the ``actors:`` key (a first item goes there)."""
    import yaml

    root = _compose(text, path)
    assert isinstance(root, yaml.MappingNode)
    keys = [key for key, _ in root.value if isinstance(key, yaml.ScalarNode) and key.value == "actors"]
    return _line_end(text, keys[-1].end_mark.index)


def _line_end(text: str, index: int) -> int:
    if index > 0 and text[index - 1] == "\n":
        return index
    newline = text.find("\n", index)
    return len(text) if newline < 0 else newline + 1


def _content_end(node: yaml.Node) -> int:
    """Where a node's own text ends: a block collection ends with its last value (not after the
    comments and blank lines that follow it, which PyYAML counts in). -1 when that value is an
    alias (PyYAML gives the anchored node, elsewhere in the text)."""
    import yaml

    while isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style and node.value:
        last = node.value[-1]
        floor = last[0].end_mark.index if isinstance(last, tuple) else node.start_mark.index
        node = last[1] if isinstance(last, tuple) else last
        if node.start_mark.index < floor:
            return -1
    return node.end_mark.index


def _layout(text: str, path: Path) -> list[_Item]:
    import yaml

    actors = _actors_value(_compose(text, path))
    if actors is None or not isinstance(actors, yaml.SequenceNode) or not actors.value:
        return []
    dashes = [
        token.start_mark.index
        for token in yaml.scan(text, Loader=yaml.SafeLoader)
        if isinstance(token, yaml.BlockEntryToken)
    ]
    items: list[_Item] = []
    previous_cut = 0
    for index, node in enumerate(actors.value):
        start = node.start_mark.index
        dash = dashes[bisect.bisect_left(dashes, start) - 1] if dashes and dashes[0] < start else -1
        line_start = text.rfind("\n", 0, max(dash, 0)) + 1
        end = _content_end(node)
        problem = None
        if dash < previous_cut or text[line_start:dash].strip() or not start <= end:
            problem = (
                f"{path}:{node.start_mark.line + 1}: cannot edit actors[{index}] automatically "
                "(unusual layout, anchors or aliases); edit it by hand"
            )
            end = start
        cut = _line_end(text, end)
        previous_cut = cut
        map_indent = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(value, yaml.MappingNode) and not value.flow_style:
                    map_indent = value.start_mark.column - key.start_mark.column
                    break
        items.append(_Item(line_start, cut, dash - line_start, node.start_mark.column, map_indent, problem))
    return items


def _blank_between_items(text: str, items: list[_Item]) -> bool:
    """Whether the existing items are set apart by blank lines (a new one then is too)."""
    return any(
        any(not line.strip() for line in text[a.cut : b.line_start].split("\n")[:-1])
        for a, b in itertools.pairwise(items)
        if not a.problem
    )


def _is_blank(line: str) -> bool:
    return not line.strip(" \t\r")


def _ends_with_blank_line(head: str) -> bool:
    lines = head.split("\n")
    return len(lines) >= 2 and lines[-1] == "" and _is_blank(lines[-2])


def _starts_with_blank_line(tail: str) -> bool:
    return "\n" in tail and _is_blank(tail.split("\n", 1)[0])


def _drop_last_blank_line(head: str) -> str:
    body = head[:-1]  # without the newline that ends the blank line
    return body[: body.rfind("\n") + 1]


def _one_line(exc: BaseException) -> str:
    return clip(" ".join(str(exc).split()), MAX_DETAIL)


def _same(a: Any, b: Any) -> bool:
    if a == b:
        return True
    import yaml  # NaN != NaN: compare the canonical dumps instead

    try:
        return bool(yaml.safe_dump(a, sort_keys=True) == yaml.safe_dump(b, sort_keys=True))
    except yaml.YAMLError:
        return False


# -- ruamel.yaml round trips -------------------------------------------------------------------------


def _ruamel(sequence: int, offset: int, mapping: int | None) -> YAML:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold long names or keys
    yaml.indent(mapping=mapping or _DEFAULT_MAPPING, sequence=sequence, offset=offset)
    return yaml


def _ruamel_load(text: str, path: Path) -> Any:
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        return _ruamel(_DEFAULT_SEQUENCE, _DEFAULT_OFFSET, None).load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(
            f"{where}: malformed YAML: {clip(str(exc.problem or exc.context), MAX_DETAIL)}"
        ) from None
    except YAMLError as exc:
        raise ConfigError(f"{path}: malformed YAML: {_one_line(exc)}") from None


def _dump(yaml: YAML, data: Any) -> str:
    import io

    out = io.StringIO()
    yaml.dump(data, out)
    text = out.getvalue()
    assert text.startswith(_WRAPPER), text
    return text[len(_WRAPPER) :]


def _round_trip(chunk: str, item: _Item, change: Callable[[CommentedMap], None], path: Path) -> str:
    """One item's text, changed by ``change`` through ruamel.yaml's round-trip mode."""
    from ruamel.yaml.comments import CommentedMap

    yaml = _ruamel(item.content_col, item.dash_col, item.map_indent)
    try:
        data = yaml.load(_WRAPPER + chunk)
        entry = data["actors"][0]
        if len(data["actors"]) != 1 or not isinstance(entry, CommentedMap):
            raise ValueError("not one mapping")
    except Exception as exc:
        raise ConfigError(
            f"{path}: cannot edit this entry automatically ({_one_line(exc)}); edit it by hand"
        ) from None
    change(entry)
    return _dump(yaml, data)


def _set(entry: CommentedMap, key: str, value: Any, after: tuple[str, ...]) -> None:
    """Set ``key``; a new key goes right after the first of ``after`` present (else at the end)."""
    if key in entry:
        entry[key] = value  # ruamel keeps the old value's quoting and end-of-line comment
        return
    keys = list(entry)
    for anchor in after:
        if anchor in keys:
            entry.insert(keys.index(anchor) + 1, key, value)
            return
    entry[key] = value


def _scalar(value: str) -> str:
    """``value`` for ruamel.yaml to write: quoted if PyYAML (YAML 1.1, which reads the file) would take
    it plain as something else than a string (``yes``, ``0b1``, ``2026-11-24``, ``1_000``)."""
    import yaml
    from ruamel.yaml.scalarstring import SingleQuotedScalarString

    tag = yaml.resolver.Resolver().resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    return SingleQuotedScalarString(value) if tag != "tag:yaml.org,2002:str" else value


def _block_style(text: str, path: Path) -> str:
    """Rewrite a flow-style top level or ``actors`` list in block style (rare; nothing else to keep)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    yaml = _ruamel(_DEFAULT_SEQUENCE, _DEFAULT_OFFSET, None)
    data = _ruamel_load(text, path)
    assert isinstance(data, CommentedMap)
    data.fa.set_block_style()
    if data.get("actors") is None:
        data["actors"] = None
    actors = data.get("actors")
    if isinstance(actors, CommentedSeq):
        actors.fa.set_block_style()
        for entry in actors:
            if isinstance(entry, CommentedMap):
                entry.fa.set_block_style()
    import io

    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()
