"""The only code that writes view files.

Each write is atomic (a temporary file in the same folder, fsynced, then renamed over the target, then
the folder fsynced) and happens only when the bytes change. Before replacing a file the writer checks
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
from datacore_msg.fsutil import atomic_write, fsync_dir
from datacore_msg.readmodels.viewcache import FileRecord, ViewCache


@attrs.frozen
class WriteReport:
    written: list[str] = attrs.field(factory=list)
    kept_aside: list[tuple[str, str]] = attrs.field(factory=list)
    #: Files kept aside that this writer had never written (an old datacore-messaging file).
    foreign: list[str] = attrs.field(factory=list)

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


def edited_text(views_dir: Path, cache: ViewCache, name: str) -> str | None:
    """The text of ``name`` if it was changed on disk since this writer last wrote it, else None."""
    record = cache.file_record(name)
    if record.written_hash is None:
        return None
    path = views_dir / name
    if record.written_stat is not None and _stat_token(path) == record.written_stat:
        return None
    data = _read(path)
    if data is None or digest(data) in (record.written_hash, record.pending_hash):
        return None
    return data.decode("utf-8", "replace")


def is_written(cache: ViewCache, name: str, text: str) -> bool:
    """Whether ``text`` is what this writer last wrote (or was about to write) to ``name``."""
    record = cache.file_record(name)
    return digest(text.encode("utf-8")) in (record.written_hash, record.pending_hash)


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
    settled: list[tuple[str, str, str]] = []
    gone: list[str] = []
    for name in sorted(candidates):
        record = records.get(name) or FileRecord(name, None, None, True)
        path = views_dir / name
        unchanged = record.written_stat is not None and _stat_token(path) == record.written_stat
        if not record.dirty and unchanged:
            continue
        hint = (appended or {}).get(name) if unchanged and record.written_hash else None
        content = _new_content(path, name, render, hint)
        new_digest = None if content is None else digest(content)
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
        if (
            on_disk is not None
            and not settled_edit
            and disk_digest not in (record.written_hash, record.pending_hash)
        ):
            aside = _aside_name(path, now or datetime.now(timezone.utc))
            atomic_write(aside, on_disk)
            report.kept_aside.append((name, aside.name))
            if record.written_hash is None and record.pending_hash is None:
                report.foreign.append(name)
        to_write.append((name, path, content, new_digest or ""))
    if to_write:
        _remove_stale_temps(views_dir, (name for name, _, _, _ in to_write))
        cache.set_pending((name, new_digest) for name, _, _, new_digest in to_write)
    for name, path, content, new_digest in to_write:
        if content is None:
            _remove(path)
            gone.append(name)
        else:
            atomic_write(path, content)
            settled.append((name, new_digest, _stat_token(path) or ""))
        report.written.append(name)
    if settled:
        cache.set_written(settled)
    if gone:
        cache.forget_files(gone)
    return report


def _new_content(
    path: Path, name: str, render: Callable[[str], str | None], hint: str | None
) -> bytes | None:
    if hint is not None:
        old = _read(path)
        if old is not None:
            return old + hint.encode("utf-8")
    text = render(name)
    return None if text is None else text.encode("utf-8")


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
        fsync_dir(path.parent)
    except OSError as exc:
        raise StorageError(f"{path}: cannot remove the empty view: {exc.strerror}") from None
