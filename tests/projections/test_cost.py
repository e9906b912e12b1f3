"""The estimated cost the agent view and ``task show`` print: the decimal amount, to the cent."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from datacore_msg.projections.agent_view import COST_PER_1K_TOKENS, cost_of


def _decimal_cost(tokens: int) -> str:
    amount = Decimal(tokens) * Decimal(COST_PER_1K_TOKENS) / 1000
    return str(amount.quantize(Decimal("0.01"), ROUND_HALF_UP))


@settings(max_examples=500, deadline=None)
@given(
    tokens=st.integers(min_value=-(10**12), max_value=10**12) | st.integers(min_value=-2000, max_value=2000)
)
def test_cost_of_is_the_decimal_amount_rounded_half_up_to_the_cent(tokens: int) -> None:
    assert cost_of(tokens) == _decimal_cost(tokens)


def test_cost_of_on_the_edges_of_a_cent() -> None:
    # 333 tokens cost 0.004995 (down), 334 cost 0.00501 (up); a half cent rounds up.
    assert [cost_of(t) for t in (0, 333, 334, 1000, 100_000_000)] == [
        "0.00",
        "0.00",
        "0.01",
        "0.02",
        "1500.00",
    ]
    assert cost_of(-334) == "-0.01"
