"""What the numbers were measured on: CPU, cores, Python, SQLite, OS, libraries, disk."""

from __future__ import annotations

import os
import platform
import sqlite3
import sys
import time
from importlib import metadata
from pathlib import Path

from bench.report import Table
from bench.stats import Sample, fmt_seconds

LIBRARIES = (
    "datacore-messaging",
    "cryptography",
    "attrs",
    "cattrs",
    "click",
    "filelock",
    "sqlite-utils",
    "eventsourcing",
)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def os_name() -> str:
    pretty = platform.system()
    try:
        for line in Path("/etc/os-release").read_text(encoding="utf-8").splitlines():
            if line.startswith("PRETTY_NAME="):
                pretty = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return f"{pretty}, kernel {platform.release()} ({platform.machine()})"


def filesystem_of(path: Path) -> str:
    """Device and type of the mount holding ``path`` (from /proc/mounts)."""
    best = ("", "unknown", "?")
    try:
        mounts = Path("/proc/mounts").read_text(encoding="utf-8").splitlines()
    except OSError:
        return "unknown"
    resolved = str(path.resolve())
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        device, point, kind = fields[0], fields[1], fields[2]
        inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best[0]):
            best = (point, device, kind)
    return f"{best[1]} ({best[2]}) mounted on {best[0]}"


def fsync_probe(folder: Path, count: int = 200) -> Sample:
    """fsync of a 4 KiB append, ``count`` times: how the disk behaves right now."""
    sample = Sample()
    path = folder / f"fsync-probe-{time.monotonic_ns()}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        block = b"x" * 4096
        for _ in range(count):
            os.write(fd, block)
            start = time.perf_counter()
            os.fsync(fd)
            sample.add(time.perf_counter() - start)
    finally:
        os.close(fd)
        path.unlink()
    return sample


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe(tmp: Path, probe_before: Sample) -> Table:
    table = Table(("", ""), title="Machine")
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    table.add("CPU", cpu_model())
    table.add("cores", f"{os.cpu_count()} logical ({usable} usable by this process)")
    table.add(
        "Python",
        f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})",
    )
    table.add("SQLite", f"{sqlite3.sqlite_version} (the library linked into Python's sqlite3)")
    table.add("OS", os_name())
    table.add("temp folder", f"{tmp} on {filesystem_of(tmp)}")
    table.add(
        "fsync probe (4 KiB append), start",
        f"median {fmt_seconds(probe_before.median)}, p90 {fmt_seconds(probe_before.p90)}",
    )
    table.add("libraries", ", ".join(f"{name} {_version(name)}" for name in LIBRARIES))
    return table
