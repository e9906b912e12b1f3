"""Figures and their markdown: one table of goals per figure, then details and notes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


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


@dataclass(frozen=True)
class Check:
    """One goal of a figure: our number against the baseline's, measured in the same run."""

    name: str
    ours: str
    baseline: str
    ratio: float
    ratio_means: str
    goal: Goal

    @property
    def passed(self) -> bool:
        return self.goal.met(self.ratio)


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
                "**pass**" if check.passed else "**MISS**",
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
                "pass" if check.passed else "**MISS**",
            )
    return table.markdown()
