"""docs/protocol.md's state diagram and frame table agree with the code."""

from __future__ import annotations

from pathlib import Path

from datacore_msg.transport import frames
from datacore_msg.transport.protocol import state_diagram

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def test_the_documented_state_diagram_is_the_transition_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert "```mermaid\n" + state_diagram() + "```" in text


def test_every_frame_type_is_in_the_frame_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    for kind in frames.FRAME_TYPES:
        assert f"| `{kind}`" in text or f"`{kind}` /" in text or f"/ `{kind}`" in text, kind
