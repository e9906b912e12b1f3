"""The installation's signing key file: private, never overwritten, clear errors naming the file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datacore_msg.errors import KeyFileError
from datacore_msg.eventlog.signing import (
    SigningKey,
    create_key_file,
    is_public_key,
    load_key_file,
    signature_ok,
)

HEADER = "datacore-msg ed25519 private key v1\n"


def test_created_key_file_has_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "state" / "signing.key"
    create_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_created_key_loads_back_as_the_same_key(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    key = create_key_file(path)
    loaded = load_key_file(path)
    assert loaded.public_hex == key.public_hex
    assert is_public_key(key.public_hex)
    message = b"a message"
    assert signature_ok(key.public_hex, message, loaded.sign(message))


def test_key_file_holds_header_and_private_hex(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    key = create_key_file(path)
    text = path.read_text(encoding="ascii")
    assert text == HEADER + key.private_hex() + "\n"


def test_creating_a_key_refuses_to_overwrite_an_existing_one(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    create_key_file(path)
    before = path.read_bytes()
    with pytest.raises(KeyFileError) as info:
        create_key_file(path)
    assert str(path) in str(info.value)
    assert "already exists" in str(info.value)
    assert path.read_bytes() == before


def test_creating_a_key_over_any_existing_file_refuses(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    path.write_text("something else\n")
    with pytest.raises(KeyFileError, match="already exists"):
        create_key_file(path)
    assert path.read_text() == "something else\n"


def test_loading_a_missing_key_names_the_path_and_says_to_run_init(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "signing.key"
    with pytest.raises(KeyFileError) as info:
        load_key_file(path)
    assert str(path) in str(info.value)
    assert "init" in str(info.value)
    assert info.value.code == "key"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "bad header"),
        (b"-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n", "bad header"),
        (HEADER.encode() + b"abcd\n", "malformed"),
        (HEADER.encode() + b"zz" * 32 + b"\n", "malformed"),
        (HEADER.encode() + b"ab" * 33 + b"\n", "malformed"),
        (HEADER.encode(), "malformed"),
        (b"\xff\xfe not ascii", "cannot read"),
    ],
    ids=["empty", "other-format", "short", "not-hex", "long", "header-only", "binary"],
)
def test_loading_a_bad_key_file_raises_key_file_error_naming_the_path(
    tmp_path: Path, content: bytes, words: str
) -> None:
    path = tmp_path / "signing.key"
    path.write_bytes(content)
    with pytest.raises(KeyFileError) as info:
        load_key_file(path)
    assert str(path) in str(info.value)
    assert words in str(info.value)


def test_loading_a_directory_raises_key_file_error(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    path.mkdir()
    with pytest.raises(KeyFileError) as info:
        load_key_file(path)
    assert str(path) in str(info.value)


def test_signature_check_rejects_garbage_without_raising() -> None:
    key = SigningKey.generate()
    sig = key.sign(b"m")
    assert signature_ok(key.public_hex, b"m", sig)
    assert not signature_ok(key.public_hex, b"m", "zz")
    assert not signature_ok(key.public_hex, b"m", sig[:-2])
    assert not signature_ok("00" * 31, b"m", sig)
    assert not signature_ok("not hex at all", b"m", sig)
    assert not is_public_key(None)
    assert not is_public_key(key.public_hex[:-2])


def test_an_origin_is_lowercase_hex_only_so_one_key_is_one_origin() -> None:
    """The upper-case spelling of a key is not a second, separate origin."""
    key = SigningKey.generate()
    assert key.public_hex == key.public_hex.lower()
    assert is_public_key(key.public_hex)
    assert not is_public_key(key.public_hex.upper())


def test_two_generated_keys_differ() -> None:
    assert SigningKey.generate().public_hex != SigningKey.generate().public_hex


@settings(max_examples=60, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(max_size=300))
def test_signatures_and_verdicts_are_pynacls(seed: bytes, message: bytes) -> None:
    """The calls into libsodium give what PyNaCl's public API gives: the same key, the same
    deterministic signature, and the same verdict on it and on a tampered copy."""
    import nacl.signing
    from nacl.exceptions import BadSignatureError

    ours = SigningKey.from_private_hex(seed.hex())
    theirs = nacl.signing.SigningKey(seed)
    assert ours.public_hex == theirs.verify_key.encode().hex()
    signature = ours.sign(message)
    assert signature == theirs.sign(message).signature.hex()
    assert signature_ok(ours.public_hex, message, signature)
    tampered = message + b"!"
    assert not signature_ok(ours.public_hex, tampered, signature)
    with pytest.raises(BadSignatureError):
        theirs.verify_key.verify(tampered, bytes.fromhex(signature))


def test_a_generated_key_signs_what_pynacl_verifies() -> None:
    import nacl.signing

    key = SigningKey.generate()
    signature = bytes.fromhex(key.sign(b"hello"))
    nacl.signing.VerifyKey(bytes.fromhex(key.public_hex)).verify(b"hello", signature)
