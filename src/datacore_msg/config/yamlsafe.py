"""Reading the YAML files people and teammates write (settings, contacts) without being hurt by them.

``settings.local.yaml`` and ``contacts.yaml`` are read by every command and by the prompt hook, and
``contacts.yaml`` is shared: a teammate's copy can be hostile. Every load goes through :func:`load`
(or :func:`parse` for text in hand), which bounds the three ways a small file can cost a lot:

* **Size.** A file over :data:`MAX_FILE_BYTES` is refused before it is parsed (read with one bounded
  ``read``; only a regular file is read, so a FIFO or a device cannot block or stream forever).
  256 KiB is far above a real file (a contact list of 500 people with two keys each is about
  150 KiB) and parses in well under a second even in its worst shape.
* **Aliases.** ``&anchor`` / ``*alias`` let 500 bytes name 10⁹ strings (the "billion laughs"):
  PyYAML builds them as shared objects, but everything that walks the data as a tree (comparing,
  copying, merging ``<<:`` keys, formatting a value into an error message) does the full, exponential
  work. Aliases are allowed, since people use them to share a block of settings, but the document
  read with every alias expanded may hold at most :data:`MAX_ALIAS_NODES` nodes more than the file
  spells out, and nest at most :data:`MAX_DEPTH` levels; an alias inside its own anchor (a loop) is
  refused. The check walks the parsed node graph once, with each shared node sized once, before
  any Python object is built (merge keys included), so refusing costs no more than parsing. A
  bound rather than a ban keeps legitimate anchors working at no risk: 10,000 extra nodes is nothing
  to walk, and nothing a teammate can grow.
* **Echoes.** An error message never quotes more than :data:`MAX_QUOTE` characters of what the file
  holds: :func:`quote` is a bounded ``repr`` (it never renders a big value in full) and :func:`clip`
  cuts the parser's own messages.

Errors are :class:`~datacore_msg.errors.ConfigError`, one line, naming the file (and the line and
column when the parser knows them).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import stat
from pathlib import Path

from datacore_msg import jsontext
from datacore_msg.errors import ConfigError, DatacoreError
from datacore_msg.records import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    import yaml

MAX_FILE_BYTES = 256 * 1024
MAX_ALIAS_NODES = 10_000
MAX_DEPTH = 100
MAX_QUOTE = 80
#: Parser messages (which may quote the file: an anchor's name, a tag) are cut at this length.
MAX_DETAIL = 160
#: The format of a cached entry (see :func:`load`).
CACHE_VERSION = 3
#: How a cached entry spells a YAML date (``added: 2026-11-24``): ``{DATE_KEY: "2026-11-24"}``. A
#: mapping of the file's own with this key is never cached, so the spelling cannot be ambiguous.
DATE_KEY = "\u0000date"


def _short_repr(value: object) -> str:
    """A :class:`reprlib.Repr` of ``value`` (made when an error first needs one)."""
    import reprlib

    short = reprlib.Repr()
    short.maxlevel = 3
    short.maxtuple = short.maxlist = short.maxarray = short.maxdict = 4
    short.maxset = short.maxfrozenset = short.maxdeque = 4
    short.maxstring = MAX_QUOTE + 2
    short.maxlong = MAX_QUOTE
    short.maxother = MAX_QUOTE
    return short.repr(value)


def clip(text: str, limit: int = MAX_QUOTE) -> str:
    """``text`` on one line, cut to ``limit`` characters (the last one then ``…``)."""
    head = text[: limit * 4]
    cut = len(text) > len(head)
    head = " ".join(head.splitlines())
    return head if len(head) <= limit and not cut else head[: limit - 1] + "…"


def quote(value: object) -> str:
    """``repr(value)`` for an error message, at most :data:`MAX_QUOTE` characters, built without
    rendering a big value in full (``'bad name'`` stays ``'bad name'``)."""
    try:
        text = repr(value[: MAX_QUOTE + 1]) if isinstance(value, str) else _short_repr(value)
    except Exception:  # e.g. an int too long to turn into decimal digits
        return f"<{type(value).__name__}>"
    return clip(text)


def key_text(key: object) -> str:
    """A mapping key as it is named in an error message: as written when it is a short plain
    string, else :func:`quote`\\ d."""
    if isinstance(key, str) and len(key) <= MAX_QUOTE and key.isprintable():
        return key
    return quote(key)


def read_text(path: Path) -> str | None:
    """The text of ``path`` (None if it does not exist), refused when over :data:`MAX_FILE_BYTES`,
    not a regular file, or not UTF-8."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError(f"{path}: cannot read: not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: over {MAX_FILE_BYTES // 1024} KiB, the limit for this file; not read")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid UTF-8") from None


def load(path: Path) -> Any:
    """The YAML data in ``path`` (None for a missing or empty file), read within the bounds above.

    Settings and contacts are read by every command, and loading the YAML parser costs more than
    the rest of a small command: so a file whose data is plain JSON data (strings, numbers, true and
    false, null, lists, mappings with string keys) or dates (``added:`` in ``contacts.yaml``) is
    parsed once, and its data kept in the user's cache folder (mode 0600, as the settings may hold
    a secret) under the SHA-256 of the text. The key is the exact text read, so an edit is never
    missed; a missing, unreadable or damaged entry is parsed again; the cache can always be
    deleted."""
    text = read_text(path)
    if text is None:
        return None
    cached = _cache_file(text)
    if cached is not None:
        try:
            with open(cached, encoding="utf-8") as handle:
                entry = jsontext.load(handle, object_hook=_date_of)
            if isinstance(entry, dict) and entry.get("v") == CACHE_VERSION and "data" in entry:
                return entry["data"]
        except (OSError, ValueError, TypeError):
            pass
    data = parse(text, path)
    if cached is not None and _json_data(data):
        import contextlib

        from datacore_msg.fsutil import atomic_write

        with contextlib.suppress(DatacoreError, OSError, ValueError):
            entry = {"v": CACHE_VERSION, "data": data}
            entry_bytes = jsontext.dumps(entry, default=_date_json).encode("utf-8")
            atomic_write(Path(cached), entry_bytes, mode=0o600)
    return data


def _cache_file(text: str) -> str | None:
    from datacore_msg.digests import sha256

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):
        return None
    digest = sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return os.path.join(base, "datacore-msg", f"yaml-{digest}.json")


def _date_json(value: object) -> dict[str, str]:
    """A date in a cached entry (``json.dumps``' ``default``)."""
    if type(value) is dt.date:
        return {DATE_KEY: value.isoformat()}
    raise TypeError(type(value).__name__)


def _date_of(mapping: dict[str, Any]) -> Any:
    """A cached entry's mapping, or the date it spells (``json.load``'s ``object_hook``)."""
    if len(mapping) == 1 and DATE_KEY in mapping:
        return dt.date.fromisoformat(mapping[DATE_KEY])
    return mapping


def _json_data(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` comes back from a cached entry as itself: no other types than JSON's and
    dates (not datetimes), no non-string keys nor :data:`DATE_KEY`, no NaN or infinity, not nested
    deeper than the YAML bound."""
    if depth > MAX_DEPTH:
        return False
    if value is None or isinstance(value, (str, bool, int)) or type(value) is dt.date:
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_json_data(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return DATE_KEY not in value and all(
            isinstance(k, str) and _json_data(v, depth + 1) for k, v in value.items()
        )
    return False


def parse(text: str, path: Path) -> Any:
    """The YAML data in ``text`` (read from ``path``, which errors name), within the bounds above."""
    import yaml

    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: over {MAX_FILE_BYTES // 1024} KiB, the limit for this file; not read")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_graph(node, path)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(
            f"{where}: malformed YAML: {clip(str(exc.problem or exc.context), MAX_DETAIL)}"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: malformed YAML: {clip(str(exc), MAX_DETAIL)}") from None
    except RecursionError:
        raise ConfigError(f"{path}: malformed YAML: nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as exc:  # Python refuses the value (5,000 digits)
        raise ConfigError(f"{path}: malformed YAML: {clip(str(exc), MAX_DETAIL)}") from None
    finally:
        loader.dispose()


def _children(node: yaml.Node) -> list[yaml.Node]:
    import yaml

    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_keys(node: yaml.Node, path: Path) -> None:
    """Refuse a mapping that names a key twice: YAML loaders keep the last one and drop the first
    without a word (two ``messaging:`` blocks, the second appended by hand, lose the first)."""
    import yaml

    if not isinstance(node, yaml.MappingNode):
        return
    seen: set[tuple[str, str]] = set()
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        name = (key_node.tag, key_node.value)
        if name in seen:
            mark = key_node.start_mark
            raise ConfigError(
                f"{path}:{mark.line + 1}:{mark.column + 1}: refused: the key {quote(key_node.value)} "
                "appears twice in one mapping (the first would be lost); merge the two"
            )
        seen.add(name)


def _check_graph(root: yaml.Node, path: Path) -> None:
    """Refuse a node graph whose tree (every alias expanded) is more than :data:`MAX_ALIAS_NODES`
    larger than the graph, deeper than :data:`MAX_DEPTH`, or infinite (an alias in its own anchor).

    One depth-first walk; each node is sized once (its size is 1 plus its children's), so the cost
    is that of the graph, never of the tree. While a node's children are being walked it is "open";
    meeting an open node again means it contains itself."""
    cap = 10**12  # sizes saturate here: enough to compare, never a huge number
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        if done:
            sizes[key] = min(cap, 1 + sum(sizes[id(child)] for child in _children(node)))
            open_nodes.discard(key)
            continue
        if key in sizes:
            continue
        mark = node.start_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}"
        if key in open_nodes:
            raise ConfigError(f"{where}: refused: an alias inside its own anchor (a loop)")
        if depth > MAX_DEPTH:
            raise ConfigError(f"{where}: refused: nested more than {MAX_DEPTH} levels deep")
        _check_keys(node, path)
        open_nodes.add(key)
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in _children(node) if id(child) not in sizes)
    extra = sizes[id(root)] - len(sizes)
    if extra > MAX_ALIAS_NODES:
        raise ConfigError(
            f"{path}: refused: its aliases (*name) expand to over {MAX_ALIAS_NODES:,} more values than "
            "the file holds (an alias bomb?)"
        )


def place(path: Path, keys: tuple[str | int, ...]) -> str:
    """``path:LINE:COLUMN`` of the value at ``keys`` (mapping keys and list indexes) in the YAML
    file ``path``, else just ``path`` (the file is gone, changed, or the value is not there).

    The data of a settings file may come from the cache (:func:`load`), which keeps no lines: this
    reads the file again, only to name the place in an error message."""
    import yaml

    try:
        text = read_text(path)
        if text is None:
            return str(path)
        node: yaml.Node | None = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        for key in keys:
            if isinstance(key, int) and isinstance(node, yaml.SequenceNode) and 0 <= key < len(node.value):
                node = node.value[key]
            elif isinstance(key, str) and isinstance(node, yaml.MappingNode):
                node = next(
                    (v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None
                )
            else:
                node = None
            if node is None:
                return str(path)
    except (ConfigError, yaml.YAMLError, RecursionError, ValueError):
        return str(path)
    if node is None:
        return str(path)
    mark = node.start_mark
    return f"{path}:{mark.line + 1}:{mark.column + 1}"
