"""Every library error maps to its own exit status, and out-of-range numbers are errors, not tracebacks."""

from __future__ import annotations

from typing import Any

import pytest

from datacore_msg.cli.exit_codes import BY_CODE, Exit
from datacore_msg.errors import ALL_ERRORS


def test_every_error_class_has_a_stable_code_mapped_to_an_exit_status() -> None:
    codes = [cls.code for cls in ALL_ERRORS]
    assert len(codes) == len(set(codes)), "two error classes share a code"
    missing = [cls.__name__ for cls in ALL_ERRORS if cls.code not in BY_CODE]
    assert not missing, f"error classes without an exit status: {missing}"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("log", "--since", "99999999999d"), Exit.OK),
        (("log", "--since", "9999-12-31"), Exit.INVALID_INPUT),
        (("log", "--since", "1900-01-01"), Exit.INVALID_INPUT),
        (("log", "--limit", "99999999999999999999"), Exit.USAGE),
        (("export", "--since", "99999999999999999999", "-"), Exit.USAGE),
    ],
)
def test_huge_or_out_of_range_numbers_are_clear_errors(
    gregor: Any, args: tuple[str, ...], code: Exit
) -> None:
    result = gregor.cli(*args)
    assert result.code == code, result
    assert "Traceback" not in result.err
