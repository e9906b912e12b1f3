"""New message and task ids: ``msg-YYYYMMDD-HHMMSS-<8 hex>`` and ``task-…`` (UTC, random suffix)."""

from __future__ import annotations

import os
from datetime import datetime, timezone


def _new_id(prefix: str, wall_ms: int) -> str:
    moment = datetime.fromtimestamp(wall_ms / 1000, tz=timezone.utc)
    return f"{prefix}-{moment:%Y%m%d-%H%M%S}-{os.urandom(4).hex()}"


def new_message_id(wall_ms: int) -> str:
    return _new_id("msg", wall_ms)


def new_task_id(wall_ms: int) -> str:
    return _new_id("task", wall_ms)
