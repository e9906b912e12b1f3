"""This installation's ed25519 signing key, and signature checks on other origins' events.

An origin is identified by its public key (64 lowercase hex characters). The private key lives in a
file of mode 0600 outside the space folder; it is created once by ``init`` and never overwritten.

Signatures are standard RFC 8032 ed25519, made and checked with libsodium (PyNaCl): its checks
are twice as fast as OpenSSL's here and run without the interpreter's lock, so
:mod:`datacore_msg.eventlog.sigbatch` checks a batch on every core with plain threads. ed25519
signing is deterministic: the same key and bytes give the same signature in any library.

The four libsodium calls are made through PyNaCl's compiled module (``nacl._sodium``), as its
``nacl.bindings.crypto_sign`` functions make them: importing ``nacl.bindings`` loads every binding
(AEAD, password hashing, …) and costs a command more than all its signing.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from nacl._sodium import ffi, lib  # type: ignore[import-not-found]

from datacore_msg.errors import KeyFileError

_KEY_HEADER = "datacore-msg ed25519 private key v1\n"
_SIGNATURE_BYTES = 64
_PUBLIC_BYTES = 32
_SECRET_BYTES = 64


def _sodium_init() -> None:
    if lib.sodium_init() == -1:
        raise RuntimeError("could not initialise libsodium")


ffi.init_once(_sodium_init, "libsodium")  # the tag PyNaCl uses: libsodium is set up once


def crypto_sign_keypair() -> tuple[bytes, bytes]:
    public = ffi.new("unsigned char[]", _PUBLIC_BYTES)
    secret = ffi.new("unsigned char[]", _SECRET_BYTES)
    if lib.crypto_sign_keypair(public, secret) != 0:
        raise RuntimeError("libsodium could not make a key pair")
    return bytes(ffi.buffer(public, _PUBLIC_BYTES)), bytes(ffi.buffer(secret, _SECRET_BYTES))


def crypto_sign_seed_keypair(seed: bytes) -> tuple[bytes, bytes]:
    if len(seed) != 32:
        raise ValueError("an ed25519 private key is 32 bytes")
    public = ffi.new("unsigned char[]", _PUBLIC_BYTES)
    secret = ffi.new("unsigned char[]", _SECRET_BYTES)
    if lib.crypto_sign_seed_keypair(public, secret, seed) != 0:
        raise RuntimeError("libsodium could not make a key pair")
    return bytes(ffi.buffer(public, _PUBLIC_BYTES)), bytes(ffi.buffer(secret, _SECRET_BYTES))


def crypto_sign(message: bytes, secret: bytes) -> bytes:
    """The signed message: the 64-byte signature, then ``message``."""
    signed = ffi.new("unsigned char[]", len(message) + _SIGNATURE_BYTES)
    signed_len = ffi.new("unsigned long long *")
    if lib.crypto_sign(signed, signed_len, message, len(message), secret) != 0:
        raise RuntimeError("libsodium could not sign")
    return bytes(ffi.buffer(signed, signed_len[0]))


def crypto_sign_open(signed: bytes, public: bytes) -> bool:
    """Whether ``signed`` (signature, then message) is signed by ``public``."""
    message = ffi.new("unsigned char[]", len(signed))
    message_len = ffi.new("unsigned long long *")
    return bool(lib.crypto_sign_open(message, message_len, signed, len(signed), public) == 0)


class SigningKey:
    def __init__(self, public: bytes, secret: bytes) -> None:
        """``secret`` is libsodium's 64-byte form: the 32-byte seed, then the public key."""
        self._secret = secret
        self.public_hex = public.hex()

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(*crypto_sign_keypair())

    def sign(self, message: bytes) -> str:
        return crypto_sign(message, self._secret)[:64].hex()

    def private_hex(self) -> str:
        return self._secret[:32].hex()

    @classmethod
    def from_private_hex(cls, value: str) -> SigningKey:
        seed = bytes.fromhex(value)
        if len(seed) != 32:
            raise ValueError("an ed25519 private key is 32 bytes")
        return cls(*crypto_sign_seed_keypair(seed))


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
def _public_key(public_hex: str) -> bytes | None:
    """The key's 32 bytes (any 32 bytes are a key's spelling; libsodium refuses, when checking a
    signature, the few that are no point of the curve or of small order)."""
    try:
        raw = bytes.fromhex(public_hex)
    except ValueError:
        return None
    return raw if len(raw) == 32 else None


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
    """Whether ``signature_hex`` is ``public_hex``'s ed25519 signature of ``message``. Runs without
    the interpreter's lock (libsodium through cffi), so threads check signatures in parallel."""
    key = _public_key(public_hex)
    if key is None:
        return False
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        return False
    if len(signature) != 64:
        return False
    return crypto_sign_open(signature + message, key)
