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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path

from datacore_msg.digests import sha256_sized
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


def digest(data: bytes) -> str:
    return sha256_sized(len(data), data).hexdigest()


def _stat_token(path: Path) -> str | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"


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
    return data[offset:] == tail[: len(data) - offset] and digest(data[:offset]) == prefix_digest


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
    if known in (record.written_hash, _pending_digest(record.pending_hash)):
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
    return digest(text.encode("utf-8")) in (record.written_hash, _pending_digest(record.pending_hash))


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
    file is on disk exactly as last written (same size, mtime and inode), its new bytes are its old
    bytes with the edit applied -- equal to a full render, without one (each replaced text must be
    found exactly once, else the file is rendered).

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
    to_write: list[tuple[str, Path, bytes | None, str]] = []
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
    to_write: list[tuple[str, Path, bytes | None, str]],
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
            atomic_write(path, content)
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
    """The digest of ``content`` and, with ``offset``, of its bytes before it, in one pass."""
    if content is None:
        return None, None
    if offset is None:
        return digest(content), None
    running = sha256_sized(len(content), memoryview(content)[:offset])
    prefix = running.hexdigest()
    running.update(memoryview(content)[offset:])
    return running.hexdigest(), prefix


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
