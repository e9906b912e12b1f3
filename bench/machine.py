"""What the numbers were measured on: CPU, cores, Python, SQLite, OS, libraries, disk."""

from __future__ import annotations

import os
import platform
import sqlite3
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from bench.report import Table
from bench.stats import Sample, fmt_seconds

LIBRARIES = (
    "datacore-messaging",
    "pynacl",
    "attrs",
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


@dataclass(frozen=True)
class CpuTimes:
    """CPU seconds used since boot by every process (``busy``, from /proc/stat) and by this
    process and its waited-for children (``own``), at wall time ``wall``."""

    busy: float
    own: float
    wall: float


def cpu_times() -> CpuTimes | None:
    try:
        first = Path("/proc/stat").read_text(encoding="ascii").splitlines()[0].split()
    except (OSError, IndexError):
        return None
    # user nice system idle iowait irq softirq steal: all but idle and iowait are busy
    ticks = [int(value) for value in first[1:9]]
    busy = sum(ticks) - ticks[3] - ticks[4]
    times = os.times()
    own = times.user + times.system + times.children_user + times.children_system
    return CpuTimes(busy / os.sysconf("SC_CLK_TCK"), own, time.monotonic())


def others_cores(before: CpuTimes | None, after: CpuTimes | None) -> float | None:
    """How many cores other processes kept busy, on average, between two readings."""
    if before is None or after is None or after.wall <= before.wall:
        return None
    others = (after.busy - before.busy) - (after.own - before.own)
    return max(0.0, others / (after.wall - before.wall))


def others_now(seconds: float = 2.0) -> float | None:
    """Other processes' CPU use (in cores) over ``seconds`` while this process sleeps."""
    before = cpu_times()
    time.sleep(seconds)
    return others_cores(before, cpu_times())


#: A run is unreliable when the fsync median moved more than this between its start and its end…
MAX_FSYNC_DRIFT = 0.5
#: …or other processes kept more than this many cores busy (at its start, its end or on average).
MAX_OTHERS_CORES = 1.0


def doubts(
    fsync_start: Sample,
    fsync_end: Sample,
    others: dict[str, float | None],
    load_start: float,
) -> list[str]:
    """Why ratios measured in this run may be off (empty when nothing says so)."""
    out: list[str] = []
    drift = fsync_end.median / fsync_start.median - 1
    if abs(drift) > MAX_FSYNC_DRIFT:
        out.append(
            f"fsync median moved {drift:+.0%} ({fmt_seconds(fsync_start.median)} at the start, "
            f"{fmt_seconds(fsync_end.median)} at the end)"
        )
    if load_start > MAX_OTHERS_CORES:
        out.append(f"1-minute load average {load_start:.2f} at the start (over {MAX_OTHERS_CORES:g})")
    for when, cores in others.items():
        if cores is not None and cores > MAX_OTHERS_CORES:
            out.append(f"other processes used {cores:.2f} cores {when}")
    return out
