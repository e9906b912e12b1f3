"""This installation's ed25519 signing key, and signature checks on other origins' events.

An origin is identified by its public key (64 lowercase hex characters). The private key lives in a
file of mode 0600 outside the space folder; it is created once by ``init`` and never overwritten.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from datacore_msg.errors import KeyFileError

_KEY_HEADER = "datacore-msg ed25519 private key v1\n"


class SigningKey:
    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        raw = private.public_key().public_bytes_raw()
        self.public_hex = raw.hex()

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    def sign(self, message: bytes) -> str:
        return self._private.sign(message).hex()

    def private_hex(self) -> str:
        return self._private.private_bytes_raw().hex()

    @classmethod
    def from_private_hex(cls, value: str) -> SigningKey:
        return cls(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(value)))


def create_key_file(path: Path) -> SigningKey:
    """Create a new key at ``path`` (mode 0600); refuse to overwrite an existing one."""
    key = SigningKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path}: a signing key already exists; not overwriting it") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot create the signing key: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(_KEY_HEADER + key.private_hex() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return key


def load_key_file(path: Path) -> SigningKey:
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise KeyFileError(
            f"{path}: no signing key; run 'datacore-msg init' to create this installation's key"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{path}: cannot read the signing key: {exc}") from None
    if not text.startswith(_KEY_HEADER):
        raise KeyFileError(f"{path}: not a datacore-msg signing key (bad header)")
    body = text[len(_KEY_HEADER) :].strip()
    try:
        if len(body) != 64:
            raise ValueError("wrong length")
        return SigningKey.from_private_hex(body)
    except ValueError:
        raise KeyFileError(f"{path}: the signing key is malformed") from None


@lru_cache(maxsize=256)
def _public_key(public_hex: str) -> Ed25519PublicKey | None:
    try:
        raw = bytes.fromhex(public_hex)
        if len(raw) != 32:
            return None
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        return None


_LOWER_HEX = frozenset("0123456789abcdef")


def is_public_key(value: object) -> bool:
    """A public key in its one canonical spelling: 64 lowercase hex characters."""
    return (
        isinstance(value, str)
        and len(value) == 64
        and _LOWER_HEX.issuperset(value)
        and _public_key(value) is not None
    )


def signature_ok(public_hex: str, message: bytes, signature_hex: str) -> bool:
    key = _public_key(public_hex)
    if key is None:
        return False
    try:
        key.verify(bytes.fromhex(signature_hex), message)
    except (InvalidSignature, ValueError):
        return False
    return True
