"""SHA-256 for the per-command paths, without importing :mod:`hashlib`.

``import hashlib`` sets up OpenSSL's digests, about 11 M instructions on every command that hashes
anything (event ids, the views' hashes, the trust book's fingerprint, the hook's state names): a
third of an empty interpreter's start-up. CPython's own SHA-256 module is built in and costs
nothing to import, and gives the same digests (a test checks it against :mod:`hashlib`). It is a
little slower per input, so the bulk checks of a batch of events (ingest, ``verify``) keep
:mod:`hashlib`'s. To a type checker :data:`sha256` is ``hashlib.sha256``. Standard library only.
"""

from __future__ import annotations

__all__ = ["sha256"]

TYPE_CHECKING = False

if TYPE_CHECKING:
    from hashlib import sha256
else:
    try:
        from _sha256 import sha256  # CPython up to 3.11
    except ImportError:
        try:
            from _sha2 import sha256  # CPython 3.12 and later
        except ImportError:  # another interpreter
            from hashlib import sha256
