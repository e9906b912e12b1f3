"""The least a ``send`` process can do, for figure 4's floor: run as a script, it imports no package code.

``python bench/send_floor.py FOLDER TEXT`` imports what any send must (``sqlite3``; libsodium through
PyNaCl's binding; ``zoneinfo`` for the user's time zone; ``json``), opens ``FOLDER/log.db`` in WAL
mode with ``synchronous=FULL``, signs one event's canonical JSON with ed25519 and inserts it in one
transaction, renders the event's time in the zone, and replaces ``FOLDER/outbox.org`` (the old text
plus one entry) atomically with an fsync of the file and of the folder. No settings, no checks, no
catch-up, no read models: what is left of a send once everything that could be skipped is skipped,
so the ratio it gets against ``python -c pass`` is a lower bound for ``datacore-msg send``'s.
"""

import json
import os
import sqlite3
import sys
import time
import zoneinfo
from datetime import datetime

from nacl._sodium import ffi, lib  # type: ignore[import-not-found]


def main(folder: str, text: str) -> None:
    if lib.sodium_init() == -1:
        raise RuntimeError("libsodium could not start")
    seed = b"\x01" * 32
    public, secret = ffi.new("unsigned char[32]"), ffi.new("unsigned char[64]")
    lib.crypto_sign_seed_keypair(public, secret, seed)
    conn = sqlite3.connect(os.path.join(folder, "log.db"), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, body TEXT, sig BLOB)")
    now_ms = time.time_ns() // 1_000_000
    conn.execute("BEGIN IMMEDIATE")
    seq = conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM events").fetchone()[0]
    body = json.dumps(
        {"seq": seq, "hlc": now_ms, "type": "message.sent", "data": {"to": "tex", "text": text}},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")
    signed = ffi.new("unsigned char[]", len(body) + 64)
    signed_len = ffi.new("unsigned long long *")
    lib.crypto_sign(signed, signed_len, body, len(body), secret)
    signature = bytes(ffi.buffer(signed, 64))
    conn.execute("INSERT INTO events VALUES (?, ?, ?)", (seq, body.decode("utf-8"), signature))
    conn.execute("COMMIT")
    conn.close()
    stamp = datetime.fromtimestamp(now_ms / 1000, zoneinfo.ZoneInfo("Europe/Berlin"))
    path = os.path.join(folder, "outbox.org")
    try:
        with open(path, "rb") as old:
            before = old.read()
    except FileNotFoundError:
        before = b""
    entry = f"* To tex: {text}\n  :PROPERTIES:\n  :SEQ: {seq}\n  :END:\n  <{stamp:%Y-%m-%d %a %H:%M}>\n"
    temp = path + ".tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, before + entry.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    folder_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(folder_fd)
    finally:
        os.close(folder_fd)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
