"""Checking the signatures of many events at once, on every core.

Theory of operation
-------------------
An ed25519 verification costs 60–120 µs, most of the cost of verifying or ingesting an event.
libsodium's verification (:func:`~datacore_msg.eventlog.signing.signature_ok`) runs without the
interpreter's lock, so plain threads verify in parallel: no process start-up, nothing pickled.
:class:`Signatures` splits a batch into chunks and hands them to a thread pool (one thread per
core, started on first use and kept for the life of the process) when the batch is large enough
to pay for it (:data:`PARALLEL_MIN`); a small batch is checked in the calling thread when it is
asked. The caller reads the answers in order with :meth:`Signatures.ok`, which waits only for the
chunk holding that answer, so the caller's own per-event work (chain, payload, insert) overlaps the
verification of the chunks after it.

A checking thread back from libsodium needs the interpreter's lock again for a few microseconds
before its next check; by default it waits up to 5 ms (``sys.getswitchinterval()``) for the thread
doing the per-event checks to hand it over, and meanwhile its core idles. :func:`prompt_handover`
shortens that interval while a batch is checked (best of six runs of a 50,000-event ``verify`` on a
loaded 2-core machine: 9.8 s at 5 ms, 6.2 s at 0.2 ms; the same CPU time).
"""

from __future__ import annotations

import os
import sys
from _thread import allocate_lock
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from datacore_msg.eventlog.signing import signature_ok
from datacore_msg.records import TYPE_CHECKING

if TYPE_CHECKING:  # imported when a pool is first needed: a command checking a few saves ~7 ms
    from concurrent.futures import Future, ThreadPoolExecutor

#: Below this many signatures, starting threads costs more than it saves.
PARALLEL_MIN = 256
#: Signatures per task handed to the pool.
CHUNK = 128
#: The interpreter's switch interval while signatures are checked on threads (seconds).
HANDOVER_S = 0.0002

#: (origin public key hex, signed bytes, signature hex)
Item = tuple[str, bytes, str]

#: The pool, by the process that started it (a child made by ``fork`` has none of its threads).
_pools: dict[int, ThreadPoolExecutor] = {}
_pool_lock = allocate_lock()  # not threading's: a command that checks no batch needs no threading


def workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _shared_pool() -> ThreadPoolExecutor:
    from concurrent.futures import ThreadPoolExecutor

    pid = os.getpid()
    with _pool_lock:
        pool = _pools.get(pid)
        if pool is None:
            pool = _pools[pid] = ThreadPoolExecutor(
                max_workers=workers(), thread_name_prefix="datacore-verify"
            )
        return pool


def alone() -> bool:
    """Whether the calling thread is the only one in the process, once this process's pool (if
    any, and if no other thread could be using it) is stopped: before a fork, so that the children
    inherit no thread's locks. A later batch starts another pool."""
    import _thread

    with _pool_lock:
        pool = _pools.get(os.getpid())
        if pool is None or _thread._count() != len(pool._threads):
            return _thread._count() == 0
        del _pools[os.getpid()]
    pool.shutdown(wait=True)
    return _thread._count() == 0


#: How many :func:`prompt_handover` blocks are running, and the interval before the first.
_handover: dict[str, float] = {"depth": 0, "saved": 0.0}


@contextmanager
def prompt_handover() -> Iterator[None]:
    """Run the block with the interpreter's switch interval at :data:`HANDOVER_S` (see the module
    docstring); the previous interval is restored when the last such block in the process ends."""
    with _pool_lock:
        if _handover["depth"] == 0:
            _handover["saved"] = sys.getswitchinterval()
            sys.setswitchinterval(min(HANDOVER_S, _handover["saved"]))
        _handover["depth"] += 1
    try:
        yield
    finally:
        with _pool_lock:
            _handover["depth"] -= 1
            if _handover["depth"] == 0:
                sys.setswitchinterval(_handover["saved"])


def _check(items: Sequence[Item]) -> list[bool]:
    return [signature_ok(origin, raw, sig) for origin, raw, sig in items]


class Signatures:
    """The verdicts on ``items``' signatures, in order (see the module docstring)."""

    def __init__(self, items: Sequence[Item], parallel_min: int | None = None) -> None:
        self._items = items
        self._chunks: list[Future[list[bool]]] | None = None
        self._done: dict[int, list[bool]] = {}
        if len(items) >= (PARALLEL_MIN if parallel_min is None else parallel_min) and workers() > 1:
            pool = _shared_pool()
            self._chunks = [
                pool.submit(_check, items[start : start + CHUNK]) for start in range(0, len(items), CHUNK)
            ]

    def ok(self, index: int) -> bool:
        if self._chunks is None:
            origin, raw, sig = self._items[index]
            return signature_ok(origin, raw, sig)
        chunk = index // CHUNK
        verdicts = self._done.get(chunk)
        if verdicts is None:
            verdicts = self._done[chunk] = self._chunks[chunk].result()
        return verdicts[index - chunk * CHUNK]

    def cancel(self) -> None:
        """Drop the chunks not yet started (the caller stopped reading)."""
        for future in self._chunks or ():
            future.cancel()
