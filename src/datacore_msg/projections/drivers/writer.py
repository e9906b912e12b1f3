"""The only code that writes view files.

A file is written only when its bytes change. When the file on disk is exactly as last written and
the new bytes share a prefix with it, only the tail from the first changed byte is rewritten in
place (cut there, written, fsynced): a new entry at the end is an append, a mark of a recent message
rewrites from that entry on; so the bytes written follow the change, not the file. Before that, the
intent (where the tail starts, the digest of what precedes it, the new tail) is recorded with the
pending hash; a process killed in the middle leaves the bytes before the tail plus a prefix of the
new tail, which the next run recognises from that record as its own (never as a hand edit) and,
since the file is still marked dirty, writes again. Any other write (a tail over
:data:`TAIL_LIMIT`, a file changed on disk, a new file) is atomic: a temporary file in the same
folder, fsynced, renamed over the target, then the folder fsynced. Before replacing a file the writer checks
that what is on disk is what it wrote last (or was about to write when a process was killed): anything
else is a hand edit, and the edited copy is kept aside as ``<name>.edited-<UTC stamp>`` next to it,
with a warning, before the view is written again (catch-up first offers an edited file to a
recogniser, which may turn changes it understands into events; see :func:`edited_text`). No edit is
ever lost silently.

A file's digest is not one SHA-256 of its bytes but the list of the SHA-256 of each
:data:`BLOCK`-byte block, with the size (``b1-SIZE-HEX``; an installation's older records hold a
plain SHA-256, still recognised). A change that catch-up describes entry by entry (:class:`Edit`)
to a file on disk as last written therefore touches only the end of it: the replaced entries are
found by reading backwards from the end until they are all in view (an entry's text occurs once in
a view: it starts with its heading and holds its own id, and body lines that could read as a
heading are escaped), the new tail is made from there, and the new digest reuses the recorded
digests of the blocks before the change. Reading and hashing follow the change, not the file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from itertools import pairwise
from pathlib import Path

from datacore_msg.digests import sha256, sha256_sized
from datacore_msg.errors import StorageError
from datacore_msg.fsutil import atomic_write, fsync_dir, replace_tail
from datacore_msg.readmodels.viewcache import FileRecord, ViewCache
from datacore_msg.records import Record, set_field


class WriteReport(Record):
    __slots__ = ("foreign", "kept_aside", "written")
    written: list[str]
    kept_aside: list[tuple[str, str]]
    #: Files kept aside that this writer had never written (an old datacore-messaging file).
    foreign: list[str]

    def __init__(
        self,
        written: list[str] | None = None,
        kept_aside: list[tuple[str, str]] | None = None,
        foreign: list[str] | None = None,
    ) -> None:
        set_field(self, "written", [] if written is None else written)
        set_field(self, "kept_aside", [] if kept_aside is None else kept_aside)
        set_field(self, "foreign", [] if foreign is None else foreign)

    @property
    def warnings(self) -> list[str]:
        return [
            f"{name} was not written by datacore-msg (a datacore-messaging file?); it is kept as "
            f"{aside} ('datacore-msg migrate from-org' imports it) and the view was written from the log"
            if name in self.foreign
            else f"{name} was edited by hand since it was last written; the edited copy is kept as "
            f"{aside} and the view was written again from the log"
            for name, aside in self.kept_aside
        ]


class Edit(Record):
    """What changed in a file since it was written, as catch-up knows it: entry texts replaced in
    place (an old text by its new one, or by "" when the entry left the file), and the text of
    entries added after all existing ones. Applied to the bytes last written, it gives the same
    bytes as a full render."""

    __slots__ = ("appended", "replaced")

    replaced: tuple[tuple[str, str], ...]
    appended: str

    def __init__(
        self,
        replaced: tuple[tuple[str, str], ...] = (),
        appended: str = "",
    ) -> None:
        set_field(self, "replaced", replaced)
        set_field(self, "appended", appended)


#: A file's new bytes; a function making them, when only its new tail was made; None to remove it.
Content = bytes | Callable[[], bytes] | None
#: The size of the blocks a view's digest lists the SHA-256 of.
BLOCK = 256 * 1024
_BLOCKED = "b1-"
_HASH_BYTES = 32


def _block_digests(data: bytes | memoryview, total: int | None = None) -> bytes:
    """The SHA-256 of each :data:`BLOCK` of ``data``, concatenated (OpenSSL's for a large input)."""
    view = memoryview(data)
    if (len(view) if total is None else total) >= 2 * BLOCK:
        import hashlib  # bulk hashing: see datacore_msg.digests

        new = hashlib.sha256
    else:
        new = sha256
    return b"".join(new(view[at : at + BLOCK]).digest() for at in range(0, len(view), BLOCK))


def _compose(size: int, blocks: bytes) -> str:
    return f"{_BLOCKED}{size}-{blocks.hex()}"


def _blocks_of(recorded: str | None) -> tuple[int, bytes] | None:
    """The size and block digests a recorded digest lists (None for an older, plain SHA-256)."""
    if recorded is None or not recorded.startswith(_BLOCKED):
        return None
    size_text, _, blocks_hex = recorded[len(_BLOCKED) :].partition("-")
    try:
        blocks = bytes.fromhex(blocks_hex)
    except ValueError:  # not as this writer records it: render the file
        return None
    if (
        not (size_text.isascii() and size_text.isdigit())
        or len(blocks) != -(-int(size_text) // BLOCK) * _HASH_BYTES
    ):
        return None
    return int(size_text), blocks


def digest(data: bytes | memoryview) -> str:
    """A view file's digest: its size and the SHA-256 of each :data:`BLOCK` (module docstring)."""
    return _compose(len(data), _block_digests(data))


def _matches(data: bytes, recorded: str | None, data_digest: str) -> bool:
    """Whether ``data`` (of digest ``data_digest``) is what ``recorded`` describes, either form."""
    if recorded is None:
        return False
    if recorded.startswith(_BLOCKED):
        return recorded == data_digest
    return sha256_sized(len(data), data).hexdigest() == recorded


def _stat_token(path: Path) -> str | None:
    """The file's size, mtime, inode and ctime: unchanged, the file is taken as last written without
    reading it. The ctime is there because a tool can set the mtime back after writing in place; the
    ctime it cannot set."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{st.st_ctime_ns}"


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StorageError(f"{path}: cannot read the view: {exc.strerror}") from None


#: How a pending tail rewrite is recorded in ``pending_hash``: the kind, the offset it starts at,
#: the digest of the bytes before it, the digest of the whole new file, the new tail (hex).
_TAIL = "tail"
#: A change whose new tail is longer than this is written as a whole new file instead.
TAIL_LIMIT = 1 << 20


def _pending_tail(new_digest: str, offset: int, prefix_digest: str, tail: bytes) -> str:
    return f"{_TAIL}:{offset}:{prefix_digest}:{new_digest}:{tail.hex()}"


def _pending_digest(pending: str | None) -> str | None:
    """The digest of the bytes a pending write was to leave (either kind)."""
    if pending is not None and pending.startswith(f"{_TAIL}:"):
        return pending.split(":", 4)[3]
    return pending


def _prefix_matches(data: bytes, offset: int, recorded: str) -> bool:
    """Whether the first ``offset`` bytes of ``data`` have the recorded digest (either form)."""
    return _matches(data[:offset], recorded, digest(memoryview(data)[:offset]))


def _torn_tail(data: bytes, record: FileRecord) -> bool:
    """Whether ``data`` is the bytes before a pending tail rewrite plus a prefix of its new tail
    (what a process killed while rewriting the tail leaves)."""
    pending = record.pending_hash
    if pending is None or not pending.startswith(f"{_TAIL}:"):
        return False
    _, offset_text, prefix_digest, _, tail_hex = pending.split(":", 4)
    offset, tail = int(offset_text), bytes.fromhex(tail_hex)
    if not offset <= len(data) <= offset + len(tail):
        return False
    return data[offset:] == tail[: len(data) - offset] and _prefix_matches(data, offset, prefix_digest)


def _common_prefix(old: bytes, new: bytes) -> int:
    """How many leading bytes ``old`` and ``new`` share (memcmp over halving spans)."""
    low, high = 0, min(len(old), len(new))
    while low < high:
        middle = (low + high + 1) // 2
        if old[low:middle] == new[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def is_ours(data: bytes, record: FileRecord, data_digest: str | None = None) -> bool:
    """Whether ``data`` (on disk) is what this writer last wrote, was about to write, or left with
    its tail half rewritten when it was killed."""
    known = data_digest if data_digest is not None else digest(data)
    pending = _pending_digest(record.pending_hash)
    if _matches(data, record.written_hash, known) or _matches(data, pending, known):
        return True
    return _torn_tail(data, record)


def edited_text(views_dir: Path, cache: ViewCache, name: str) -> str | None:
    """The text of ``name`` if it was changed on disk since this writer last wrote it, else None."""
    record = cache.file_record(name)
    if record.written_hash is None:
        return None
    path = views_dir / name
    if record.written_stat is not None and _stat_token(path) == record.written_stat:
        return None
    data = _read(path)
    if data is None or is_ours(data, record):
        return None
    return data.decode("utf-8", "replace")


def is_written(cache: ViewCache, name: str, text: str) -> bool:
    """Whether ``text`` is what this writer last wrote (or was about to write) to ``name``."""
    record = cache.file_record(name)
    data = text.encode("utf-8")
    known = digest(data)
    return _matches(data, record.written_hash, known) or _matches(
        data, _pending_digest(record.pending_hash), known
    )


def _remove_stale_temps(views_dir: Path, names: Iterable[str]) -> None:
    """Temporary files left by a writer that was killed mid-write (we hold the views lock)."""
    for name in names:
        path = views_dir / name
        for stale in path.parent.glob(f".{path.name}.tmp-*"):
            stale.unlink(missing_ok=True)


def _aside_name(path: Path, now: datetime) -> Path:
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    candidate = path.with_name(f"{path.name}.edited-{stamp}")
    counter = 1
    while candidate.exists():
        counter += 1
        candidate = path.with_name(f"{path.name}.edited-{stamp}-{counter}")
    return candidate


def write_views(
    views_dir: Path,
    cache: ViewCache,
    render: Callable[[str], str | None],
    always: Iterable[str],
    now: datetime | None = None,
    edits: Mapping[str, Edit] | None = None,
    absorbed: Iterable[str] = (),
) -> WriteReport:
    """Bring every dirty file, and the always-present live files, on disk up to date.

    ``render(name)`` gives a file's text, or None when the file should not exist (an archive file
    whose last entry moved elsewhere): such a file is removed. Pending hashes for all files about to
    change are recorded in one transaction before any file is replaced, and the written hashes in
    one after, so a process killed in between leaves files whose bytes the next run still
    recognises as its own.

    ``edits`` names files whose change catch-up knows entry by entry (:class:`Edit`): when such a
    file is on disk exactly as last written (same size, mtime, inode and ctime), its new bytes are its
    old bytes with the edit applied -- equal to a full render, without one (each replaced text must
    be found exactly once, else the file is rendered).

    ``absorbed`` names files whose hand edit was turned into events in full: they are rewritten
    without a copy kept aside."""
    report = WriteReport()
    records = {record.file: record for record in cache.files()}
    candidates = {
        name
        for name, record in records.items()
        if record.dirty or _stat_token(views_dir / name) != record.written_stat
    }
    candidates.update(always)
    to_write: list[tuple[str, Path, Content, str]] = []
    tails: dict[str, tuple[int, str, bytes]] = {}
    settled: list[tuple[str, str, str]] = []
    gone: list[str] = []
    for name in sorted(candidates):
        record = records.get(name) or FileRecord(name, None, None, True)
        path = views_dir / name
        unchanged = record.written_stat is not None and _stat_token(path) == record.written_stat
        if not record.dirty and unchanged:
            continue
        hint = (edits or {}).get(name) if unchanged and record.written_hash else None
        if hint is not None and _placed(name, path, record, hint, render, tails, to_write, settled):
            continue
        content, old, offset = _new_content(path, name, render, hint)
        new_digest, prefix_digest = _digests(content, offset)
        if unchanged:
            on_disk, disk_digest = None, record.written_hash
        else:
            on_disk = _read(path)
            disk_digest = None if on_disk is None else digest(on_disk)
        if disk_digest == new_digest:
            if new_digest is None:
                gone.append(name)
            else:
                settled.append((name, new_digest, _stat_token(path) or ""))
            continue
        if on_disk is not None and name not in absorbed and not is_ours(on_disk, record, disk_digest):
            _keep_aside(report, record, name, path, on_disk, now)
        if unchanged and content is not None and record.written_hash is not None:
            if offset is not None and prefix_digest is not None:
                tail = _known_tail(content, offset, prefix_digest)
            else:
                tail = _tail_change(path, record.written_hash, content, old)
            if tail is not None:
                tails[name] = tail
        to_write.append((name, path, content, new_digest or ""))
    if to_write:
        _remove_stale_temps(views_dir, (name for name, _, _, _ in to_write))
        cache.set_pending(
            (name, _pending_tail(new_digest, *tails[name]) if name in tails else new_digest)
            for name, _, _, new_digest in to_write
        )
        _write_files(to_write, tails, settled, gone)
        report.written.extend(name for name, _, _, _ in to_write)
    if settled:
        cache.set_written(settled)
    if gone:
        cache.forget_files(gone)
    return report


def _placed(
    name: str,
    path: Path,
    record: FileRecord,
    hint: Edit,
    render: Callable[[str], str | None],
    tails: dict[str, tuple[int, str, bytes]],
    to_write: list[tuple[str, Path, Content, str]],
    settled: list[tuple[str, str, str]],
) -> bool:
    """Queue ``hint`` as a tail rewrite made without reading the whole file; False if it cannot be."""
    placed = _edit_in_place(path, record.written_hash or "", hint)
    if placed is None:
        return False
    offset, prefix_digest, tail, new_digest = placed
    if new_digest == record.written_hash:
        settled.append((name, new_digest, _stat_token(path) or ""))
    else:
        tails[name] = (offset, prefix_digest, tail)
        # Only the tail was made: the whole file is rendered if the file went away meanwhile.
        to_write.append((name, path, lambda: (render(name) or "").encode("utf-8"), new_digest))
    return True


def _keep_aside(
    report: WriteReport, record: FileRecord, name: str, path: Path, on_disk: bytes, now: datetime | None
) -> None:
    """Keep a file that is not as we wrote it next to it (a hand edit, or a file we never wrote)."""
    aside = _aside_name(path, now or datetime.now(timezone.utc))
    atomic_write(aside, on_disk)
    report.kept_aside.append((name, aside.name))
    if record.written_hash is None and record.pending_hash is None:
        report.foreign.append(name)


def _write_files(
    to_write: list[tuple[str, Path, Content, str]],
    tails: Mapping[str, tuple[int, str, bytes]],
    settled: list[tuple[str, str, str]],
    gone: list[str],
) -> None:
    """Write (rewrite the tail of, or remove) each file, adding it to ``settled`` or ``gone``."""
    for name, path, content, new_digest in to_write:
        if content is None:
            _remove(path)
            gone.append(name)
            continue
        if name not in tails or not _write_tail(path, tails[name][0], tails[name][2]):
            atomic_write(path, content() if callable(content) else content)
        settled.append((name, new_digest, _stat_token(path) or ""))


def _new_content(
    path: Path, name: str, render: Callable[[str], str | None], hint: Edit | None
) -> tuple[bytes | None, bytes | None, int | None]:
    """The file's new bytes; its old bytes when they were read to make them; and when ``hint``
    made them, where they first differ from the old ones."""
    if hint is not None:
        old = _read(path)
        if old is not None:
            edited = _apply_edit(old, hint)
            if edited is not None:
                return edited[0], old, edited[1]
    text = render(name)
    return (None if text is None else text.encode("utf-8")), None, None


def _apply_edit(old: bytes, edit: Edit) -> tuple[bytes, int] | None:
    """``old`` with ``edit`` applied, and the first offset it changed; None if a replaced text is
    not found exactly once."""
    data, first = old, len(old)
    for before, after in edit.replaced:
        needle = before.encode("utf-8")
        at = data.find(needle)
        if not needle or at < 0 or data.find(needle, at + 1) >= 0:
            return None
        data = data[:at] + after.encode("utf-8") + data[at + len(needle) :]
        first = min(first, at)
    return data + edit.appended.encode("utf-8"), first


def _digests(content: bytes | None, offset: int | None) -> tuple[str | None, str | None]:
    """The digest of ``content`` and, with ``offset``, of its bytes before it (the blocks before
    the one ``offset`` falls in are hashed once for both)."""
    if content is None:
        return None, None
    if offset is None:
        return digest(content), None
    view = memoryview(content)
    start = offset // BLOCK * BLOCK
    shared = _block_digests(view[:start], len(content))
    prefix = _compose(offset, shared + _block_digests(view[start:offset]))
    return _compose(len(content), shared + _block_digests(view[start:], len(content))), prefix


def _edit_in_place(path: Path, recorded: str, edit: Edit) -> tuple[int, str, bytes, str] | None:
    """For a file on disk as last written, whose recorded digest lists its blocks: where ``edit``
    first changes it, the digest of the bytes before, the new tail and the new file's digest,
    reading only from the first replaced entry (or the end) on. None when the edit cannot be placed
    (a replaced text not found, found twice, or entries overlapping), the new tail is over
    :data:`TAIL_LIMIT`, or the file is not the size recorded: the caller renders the file."""
    listed = _blocks_of(recorded)
    if listed is None:
        return None
    size, blocks = listed
    needles = [(before.encode("utf-8"), after.encode("utf-8")) for before, after in edit.replaced]
    if any(not needle for needle, _ in needles):
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        if os.fstat(fd).st_size != size:
            return None
        found = _find_from_end(fd, size, needles)
        if found is None:
            return None
        start, window, places = found
        offset = places[0][0] if places else size
        parts: list[bytes] = []
        cursor = offset
        for at, needle, after in places:
            parts += [window[cursor - start : at - start], after]
            cursor = at + len(needle)
        parts += [window[cursor - start :], edit.appended.encode("utf-8")]
        tail = b"".join(parts)
        if len(tail) > TAIL_LIMIT:
            return None
        head_start = offset // BLOCK * BLOCK
        if head_start >= start:
            head = window[head_start - start : offset - start]
        else:
            head = os.pread(fd, offset - head_start, head_start)
    except OSError:
        return None
    finally:
        os.close(fd)
    kept = blocks[: head_start // BLOCK * _HASH_BYTES]
    prefix_digest = _compose(offset, kept + _block_digests(head))
    new_digest = _compose(offset + len(tail), kept + _block_digests(head + tail))
    return offset, prefix_digest, tail, new_digest


def _find_from_end(
    fd: int, size: int, needles: list[tuple[bytes, bytes]]
) -> tuple[int, bytes, list[tuple[int, bytes, bytes]]] | None:
    """Read ``fd`` backwards from its end (in growing windows) until every needle is in view: the
    window's start, its bytes, and each needle's place (sorted) with its replacement; None if one
    is missing, occurs twice in the window, or two overlap."""
    span = max(BLOCK, 2 * sum(len(needle) for needle, _ in needles))
    while True:
        start = max(0, size - span)
        window = os.pread(fd, size - start, start)
        if len(window) != size - start:
            return None
        places: list[tuple[int, bytes, bytes]] = []
        for needle, after in needles:
            at = window.rfind(needle)
            if at < 0:
                break
            if window.find(needle) != at:
                return None
            places.append((start + at, needle, after))
        else:
            places.sort()
            for (at, needle, _), (next_at, _, _) in pairwise(places):
                if at + len(needle) > next_at:
                    return None
            return start, window, places
        if start == 0:
            return None
        span *= 4


def _known_tail(content: bytes, offset: int, prefix_digest: str) -> tuple[int, str, bytes] | None:
    if offset == 0 or len(content) - offset > TAIL_LIMIT:
        return None
    return offset, prefix_digest, content[offset:]


def _tail_change(
    path: Path, written_hash: str, content: bytes, old: bytes | None
) -> tuple[int, str, bytes] | None:
    """For a file on disk as last written (``written_hash``): where its bytes and ``content`` part,
    the digest of what comes before, and the new tail -- or None when the tail is over
    :data:`TAIL_LIMIT` (or nothing is shared), and the file is better written whole."""
    if old is None:
        old = _read(path)
        if old is None:
            return None
    offset = _common_prefix(old, content)
    if offset == 0 or len(content) - offset > TAIL_LIMIT:
        return None
    prefix_digest = written_hash if offset == len(old) else digest(old[:offset])
    return offset, prefix_digest, content[offset:]


def _write_tail(path: Path, offset: int, tail: bytes) -> bool:
    """Cut ``path`` at ``offset`` and write ``tail`` there, in place (see
    :func:`~datacore_msg.fsutil.replace_tail`)."""
    return replace_tail(path, offset, tail)


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
        fsync_dir(path.parent)
    except OSError as exc:
        raise StorageError(f"{path}: cannot remove the empty view: {exc.strerror}") from None
