"""The exception tree of datacore-msg.

Every error the library raises on purpose derives from :class:`DatacoreError` and carries a stable
``code`` (a short string that never changes once released). The CLI maps codes to exit statuses in
one place (``datacore_msg.cli.exit_codes``); nothing below the CLI prints or exits.

::

    DatacoreError
    ├── InvalidInput          bad text, names, ids or options given by the user   (invalid_input)
    │   ├── NotFound          an id or name that matches nothing                  (not_found)
    │   ├── Ambiguous         an id prefix that matches several                   (ambiguous)
    │   ├── TransitionError   a state change that is not allowed from this state  (transition)
    │   └── BadQuery          a search query with nothing to search for, or too long (bad_query)
    ├── ConfigError           unreadable or malformed settings/contacts files     (config)
    ├── KeyFileError          missing, unreadable or malformed signing key        (key)
    ├── IntegrityError        forged, truncated or re-ordered events; bad chains  (integrity)
    │   └── ForkError         same (origin, seq) but another event id             (fork)
    ├── ImportRejected        an import with rejected lines (valid ones are kept)  (import_rejected)
    ├── Busy                  another process holds a lock for too long           (busy)
    ├── StorageError          the disk or the database failed                     (storage)
    ├── Unreachable           the relay cannot be reached (refused, timed out)    (unreachable)
    ├── AuthRefused           the relay's and this installation's team secrets differ  (auth_refused)
    └── ProtocolError         a bad frame, or a frame the sync protocol forbids   (protocol)
"""

from __future__ import annotations


class DatacoreError(Exception):
    """Root of every error raised on purpose by datacore-msg."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(DatacoreError):
    code = "invalid_input"


class NotFound(InvalidInput):
    code = "not_found"


class Ambiguous(InvalidInput):
    code = "ambiguous"

    def __init__(self, message: str, candidates: list[str]) -> None:
        super().__init__(message)
        self.candidates = candidates


class TransitionError(InvalidInput):
    code = "transition"


class BadQuery(InvalidInput):
    code = "bad_query"


class ConfigError(DatacoreError):
    code = "config"


class KeyFileError(DatacoreError):
    code = "key"


class IntegrityError(DatacoreError):
    code = "integrity"


class ForkError(IntegrityError):
    code = "fork"


class ImportRejected(DatacoreError):
    """An import had lines that were not stored (every valid line was), or stopped at a limit;
    ``rejected`` lists (line number, reason) of the first few, ``count`` how many there were."""

    code = "import_rejected"

    def __init__(self, message: str, rejected: list[tuple[int, str]], count: int | None = None) -> None:
        super().__init__(message)
        self.rejected = rejected
        self.count = len(rejected) if count is None else count


class Busy(DatacoreError):
    code = "busy"


class StorageError(DatacoreError):
    code = "storage"


class Unreachable(DatacoreError):
    code = "unreachable"


class AuthRefused(DatacoreError):
    code = "auth_refused"


class ProtocolError(DatacoreError):
    """A frame that is malformed, too large, of the wrong type, or not allowed in the connection's
    state; ``reason`` is the stable code sent in the error frame (``bad_frame``, ``unexpected``...)."""

    code = "protocol"

    def __init__(self, message: str, reason: str = "bad_frame") -> None:
        super().__init__(message)
        self.reason = reason


ALL_ERRORS: tuple[type[DatacoreError], ...] = (
    DatacoreError,
    InvalidInput,
    NotFound,
    Ambiguous,
    TransitionError,
    BadQuery,
    ConfigError,
    KeyFileError,
    IntegrityError,
    ForkError,
    ImportRejected,
    Busy,
    StorageError,
    Unreachable,
    AuthRefused,
    ProtocolError,
)
