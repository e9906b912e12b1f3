"""The only code that writes view files.

Each write is atomic (a temporary file in the same folder, fsynced, then renamed over the target, then
the folder fsynced) and happens only when the bytes change -- except an append: when the only change
to a file is entries sorting after all of its existing ones, and the file on disk is exactly as last
written, the new entries' bytes are appended to it in place (and fsynced), so a send costs the size
of its entry, not of the file. Before the append, the intent (the file's size and the bytes to add)
is recorded with the pending hash; a process killed in the middle leaves the old bytes plus a prefix
of the new ones, which the next run recognises from that record as its own (never as a hand edit)
and, since the file is still marked dirty, writes again. Before replacing a file the writer checks
that what is on disk is what it wrote last (or was about to write when a process was killed): anything
else is a hand edit, and the edited copy is kept aside as ``<name>.edited-<UTC stamp>`` next to it,
with a warning, before the view is written again (catch-up first offers an edited file to a
recogniser, which may turn changes it understands into events; see :func:`edited_text`). No edit is
ever lost silently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path

import attrs

from datacore_msg.errors import StorageError
from datacore_msg.fsutil import append_bytes, atomic_write, fsync_dir
from datacore_msg.readmodels.viewcache import FileRecord, ViewCache


@attrs.frozen
class WriteReport:
    written: list[str] = attrs.field(factory=list)
    kept_aside: list[tuple[str, str]] = attrs.field(factory=list)

    @property
    def warnings(self) -> list[str]:
        return [
            f"{name} was edited by hand since it was last written; the edited copy is kept as "
            f"{aside} and the view was written again from the log"
            for name, aside in self.kept_aside
        ]


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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


#: How a pending append is recorded in ``pending_hash``: prefix, offset, new digest, added bytes (hex).
_APPEND = "append"


def _pending_append(new_digest: str, offset: int, tail: bytes) -> str:
    return f"{_APPEND}:{offset}:{new_digest}:{tail.hex()}"


def _pending_digest(pending: str | None) -> str | None:
    """The digest of the bytes a pending write was to leave (either kind)."""
    if pending is not None and pending.startswith(f"{_APPEND}:"):
        return pending.split(":", 3)[2]
    return pending


def _torn_append(data: bytes, record: FileRecord) -> bool:
    """Whether ``data`` is the last written bytes plus a prefix of a pending append's bytes."""
    pending = record.pending_hash
    if pending is None or not pending.startswith(f"{_APPEND}:") or record.written_hash is None:
        return False
    _, offset_text, _, tail_hex = pending.split(":", 3)
    offset, tail = int(offset_text), bytes.fromhex(tail_hex)
    if not offset <= len(data) <= offset + len(tail):
        return False
    return data[offset:] == tail[: len(data) - offset] and digest(data[:offset]) == record.written_hash


def is_ours(data: bytes, record: FileRecord, data_digest: str | None = None) -> bool:
    """Whether ``data`` (on disk) is what this writer last wrote, was about to write, or left
    half-appended when it was killed."""
    known = data_digest if data_digest is not None else digest(data)
    if known in (record.written_hash, _pending_digest(record.pending_hash)):
        return True
    return _torn_append(data, record)


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
    appended: Mapping[str, str] | None = None,
    absorbed: Iterable[str] = (),
) -> WriteReport:
    """Bring every dirty file, and the always-present live files, on disk up to date.

    ``render(name)`` gives a file's text, or None when the file should not exist (an archive file
    whose last entry moved elsewhere): such a file is removed. Pending hashes for all files about to
    change are recorded in one transaction before any file is replaced, and the written hashes in
    one after, so a process killed in between leaves files whose bytes the next run still
    recognises as its own.

    ``appended`` names files whose only change is entries sorting after all existing ones, with
    their text: when such a file is on disk exactly as last written (same size, mtime and inode),
    its new bytes are the old bytes plus that text -- equal to a full render, without one.

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
    appends: dict[str, tuple[int, bytes]] = {}
    settled: list[tuple[str, str, str]] = []
    gone: list[str] = []
    for name in sorted(candidates):
        record = records.get(name) or FileRecord(name, None, None, True)
        path = views_dir / name
        unchanged = record.written_stat is not None and _stat_token(path) == record.written_stat
        if not record.dirty and unchanged:
            continue
        hint = (appended or {}).get(name) if unchanged and record.written_hash else None
        content, offset = _new_content(path, name, render, hint)
        new_digest = None if content is None else digest(content)
        if content is not None and offset is not None:
            appends[name] = (offset, content[offset:])
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
        settled_edit = name in absorbed
        if on_disk is not None and not settled_edit and not is_ours(on_disk, record, disk_digest):
            aside = _aside_name(path, now or datetime.now(timezone.utc))
            atomic_write(aside, on_disk)
            report.kept_aside.append((name, aside.name))
        to_write.append((name, path, content, new_digest or ""))
    if to_write:
        _remove_stale_temps(views_dir, (name for name, _, _, _ in to_write))
        cache.set_pending(
            (name, _pending_append(new_digest, *appends[name]) if name in appends else new_digest)
            for name, _, _, new_digest in to_write
        )
        _write_files(to_write, appends, settled, gone)
        report.written.extend(name for name, _, _, _ in to_write)
    if settled:
        cache.set_written(settled)
    if gone:
        cache.forget_files(gone)
    return report


def _write_files(
    to_write: list[tuple[str, Path, bytes | None, str]],
    appends: Mapping[str, tuple[int, bytes]],
    settled: list[tuple[str, str, str]],
    gone: list[str],
) -> None:
    """Write (or append to, or remove) each file, adding it to ``settled`` or ``gone``."""
    for name, path, content, new_digest in to_write:
        if content is None:
            _remove(path)
            gone.append(name)
            continue
        if name not in appends or not _append_bytes(path, appends[name][1]):
            atomic_write(path, content)
        settled.append((name, new_digest, _stat_token(path) or ""))


def _new_content(
    path: Path, name: str, render: Callable[[str], str | None], hint: str | None
) -> tuple[bytes | None, int | None]:
    """The file's new bytes, and when they are its old bytes plus more, the old bytes' length."""
    if hint is not None:
        old = _read(path)
        if old is not None:
            return old + hint.encode("utf-8"), len(old)
    text = render(name)
    return (None if text is None else text.encode("utf-8")), None


def _append_bytes(path: Path, tail: bytes) -> bool:
    """Add ``tail`` at the end of ``path`` in place (see :func:`~datacore_msg.fsutil.append_bytes`)."""
    return append_bytes(path, tail)


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
        fsync_dir(path.parent)
    except OSError as exc:
        raise StorageError(f"{path}: cannot remove the empty view: {exc.strerror}") from None
