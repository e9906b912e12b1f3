"""``digests.sha256`` gives ``hashlib.sha256``'s digests, and the commands people run most (``send``,
``send @AGENT``, the prompt hook) do without importing ``hashlib`` (what it is for)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import Installation

from datacore_msg.digests import BULK_BYTES, sha256, sha256_sized


@given(st.binary(max_size=5000), st.integers(min_value=0, max_value=5000))
def test_the_digests_are_hashlibs(data: bytes, cut: int) -> None:
    assert sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()
    assert sha256(data).digest() == hashlib.sha256(data).digest()
    running = sha256(memoryview(data)[:cut])
    expected = hashlib.sha256(data[:cut])
    assert running.hexdigest() == expected.hexdigest()
    running.update(memoryview(data)[cut:])
    expected.update(data[cut:])
    assert running.hexdigest() == expected.hexdigest()


_RUN = """
import io, json, sys, contextlib
from datacore_msg.cli.fastpath import dispatch
from datacore_msg.cli.hookrun import run
out = io.StringIO()
with contextlib.redirect_stdout(out):
    codes = [dispatch(["send", "@tex", "hello", "--root", sys.argv[1]]),
             dispatch(["send", "@gregor-claude", "a task", "--root", sys.argv[1]])]
hook_input = json.dumps({"session_id": "digests test session", "prompt": "go"}).encode()
sys.stdin = io.TextIOWrapper(io.BytesIO(hook_input), encoding="utf-8")
with contextlib.redirect_stdout(out):
    codes.append(run("prompt", []))
print(json.dumps({"codes": codes, "hashlib": "hashlib" in sys.modules, "out": out.getvalue()}))
"""


def test_send_send_to_the_agent_and_the_hook_do_not_import_hashlib(gregor: Installation) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _RUN, str(gregor.root)],
        env=gregor.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["codes"] == [0, 0, 0], result
    assert "Sent: msg-" in result["out"] and "(QUEUED)" in result["out"], result["out"]
    assert "has claimed task" in result["out"], result["out"]
    assert result["hashlib"] is False


@pytest.mark.parametrize("size", [0, 1, BULK_BYTES - 1, BULK_BYTES, 3 * BULK_BYTES])
def test_sized_digests_are_hashlibs_on_either_side_of_the_bulk_line(size: int) -> None:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    cut = size // 3
    running = sha256_sized(size, memoryview(data)[:cut])
    assert running.hexdigest() == hashlib.sha256(data[:cut]).hexdigest()
    running.update(memoryview(data)[cut:])
    assert running.hexdigest() == hashlib.sha256(data).hexdigest()
    built_in = size < BULK_BYTES
    assert (type(running) is type(sha256())) is built_in  # large inputs get hashlib's faster digest
