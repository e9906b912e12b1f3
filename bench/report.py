"""Figures and their markdown: one table of goals per figure, then details and notes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Goal:
    """A ratio the project wants: ``ratio >= bound`` (``at_least``) or ``ratio <= bound``."""

    bound: float
    at_least: bool

    def met(self, ratio: float) -> bool:
        return ratio >= self.bound if self.at_least else ratio <= self.bound

    def __str__(self) -> str:
        return f"{'≥' if self.at_least else '≤'} {self.bound:g}×"


def at_least(bound: float) -> Goal:
    return Goal(bound, True)


def at_most(bound: float) -> Goal:
    return Goal(bound, False)


#: A baseline whose p90 is more than this many times its median moved too much during its own
#: measurement for a ratio against it to mean much.
MAX_BASELINE_SPREAD = 2.0


@dataclass(frozen=True)
class Check:
    """One goal of a figure: our number against the baseline's, measured in the same run.

    ``baseline_spread`` is the baseline sample's p90 / median, when it has repetitions; a spread over
    :data:`MAX_BASELINE_SPREAD` makes the ratio unreliable. The run as a whole can be unreliable too
    (the disk's fsync time drifted, other processes loaded the machine): :func:`mark_unreliable`."""

    name: str
    ours: str
    baseline: str
    ratio: float
    ratio_means: str
    goal: Goal
    baseline_spread: float | None = None
    unreliable: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.goal.met(self.ratio)

    @property
    def doubts(self) -> tuple[str, ...]:
        """Why the ratio cannot be trusted (empty when it can)."""
        own: tuple[str, ...] = ()
        if self.baseline_spread is not None and self.baseline_spread > MAX_BASELINE_SPREAD:
            own = (f"baseline p90 is {self.baseline_spread:.1f}× its median",)
        return own + self.unreliable

    @property
    def result(self) -> str:
        """``pass``, ``MISS`` (always said plainly, reliable or not), or ``UNRELIABLE`` for a pass
        measured when the numbers could not be trusted."""
        if not self.passed:
            return "MISS"
        return "UNRELIABLE" if self.doubts else "pass"


@dataclass
class Table:
    header: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)
    title: str = ""

    def add(self, *cells: str) -> None:
        self.rows.append(tuple(cells))

    def markdown(self) -> list[str]:
        out = [f"**{self.title}**", ""] if self.title else []
        out.append("| " + " | ".join(self.header) + " |")
        out.append("|" + "|".join("---" for _ in self.header) + "|")
        out.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in self.rows)
        out.append("")
        return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


@dataclass
class Figure:
    number: int
    title: str
    what: list[str]
    checks: list[Check] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def markdown(self) -> list[str]:
        out = [f"## {self.number}. {self.title}", ""]
        out.extend(self.what)
        out.append("")
        goals = Table(("measure", "ours", "baseline", "ratio", "goal", "result"))
        for check in self.checks:
            goals.add(
                check.name,
                check.ours,
                check.baseline,
                f"{check.ratio:.2f}× ({check.ratio_means})",
                str(check.goal),
                _verdict(check),
            )
        out.extend(goals.markdown())
        for table in self.tables:
            out.extend(table.markdown())
        for note in self.notes:
            out.append(f"- {note}")
        if self.notes:
            out.append("")
        out.append(f"_This figure took {self.seconds:.0f} s to measure (setup included)._")
        out.append("")
        return out


def summary(figures: Sequence[Figure]) -> list[str]:
    table = Table(("figure", "measure", "ratio", "goal", "result"))
    for fig in figures:
        for check in fig.checks:
            table.add(
                f"{fig.number}. {fig.title}",
                check.name,
                f"{check.ratio:.2f}×",
                str(check.goal),
                _verdict(check),
            )
    out = table.markdown()
    checks = [check for fig in figures for check in fig.checks]
    missed = [check for check in checks if not check.passed]
    doubtful = [check for check in checks if check.result == "UNRELIABLE"]
    passed = len(checks) - len(missed) - len(doubtful)
    out.append(
        f"**{len(missed)} of {len(checks)} goals MISSED**, {len(doubtful)} met but UNRELIABLE, "
        f"{passed} passed."
    )
    out.append("")
    doubts = sorted({doubt for check in checks for doubt in check.unreliable})
    if doubts:
        out.append("This run is UNRELIABLE: " + "; ".join(doubts) + ". Ratios measured in it may be off.")
        out.append("")
    return out


def _verdict(check: Check) -> str:
    """The result, with the check's own doubts (the run's are listed once, under the summary)."""
    result = check.result
    if result == "pass":
        return "**pass**"
    own = [doubt for doubt in check.doubts if doubt not in check.unreliable]
    if check.unreliable:
        own.append("unreliable run")
    return f"**{result}** ({'; '.join(own)})" if own else f"**{result}**"


def mark_unreliable(figures: Sequence[Figure], reasons: Sequence[str]) -> None:
    """Attach the run's reasons for doubt to every check."""
    if not reasons:
        return
    for fig in figures:
        fig.checks = [replace(check, unreliable=tuple(reasons)) for check in fig.checks]
