"""SHA-256 for the per-command paths, without importing :mod:`hashlib`.

``import hashlib`` sets up OpenSSL's digests, about 11 M instructions on every command that hashes
anything (event ids, the views' hashes, the trust book's fingerprint, the hook's state names): a
third of an empty interpreter's start-up. CPython's own SHA-256 module is built in and costs
nothing to import, and gives the same digests (a test checks it against :mod:`hashlib`). It is a
little slower per input, so the bulk checks of a batch of events (ingest, ``verify``) keep
:mod:`hashlib`'s. It is also about six times slower per byte (no CPU SHA extensions): for an input
of :data:`BULK_BYTES` or more (a view file of a large log, hashed on every write),
:func:`sha256_sized` gives :mod:`hashlib`'s, whose import is then the smaller cost. To a type checker
:data:`sha256` is ``hashlib.sha256``. Standard library only.
"""

from __future__ import annotations

__all__ = ["BULK_BYTES", "sha256", "sha256_sized"]

#: Inputs from this size on are hashed by :mod:`hashlib` (about 1 ms of the built-in module's time
#: at this size, against about 3 ms to import :mod:`hashlib` once).
BULK_BYTES = 512 * 1024

TYPE_CHECKING = False

if TYPE_CHECKING:
    from _hashlib import HASH
    from hashlib import sha256
else:
    try:
        from _sha256 import sha256  # CPython up to 3.11
    except ImportError:
        try:
            from _sha2 import sha256  # CPython 3.12 and later
        except ImportError:  # another interpreter
            from hashlib import sha256


def sha256_sized(size: int, data: bytes | memoryview = b"") -> HASH:
    """A SHA-256 object for hashing ``size`` bytes in all, fed ``data``: :mod:`hashlib`'s from
    :data:`BULK_BYTES` on, else the built-in one (the same digests either way)."""
    if size >= BULK_BYTES:
        import hashlib

        return hashlib.sha256(data)
    return sha256(data)
