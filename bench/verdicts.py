"""PASS or FAIL against a stated target, always computed from the measured figure, so that a
regression cannot hide in a table: every `make bench` section shows its verdicts, and bench/run.py
lists them all at the end and exits non-zero on a FAIL. A module run in its own process hands
its verdicts to bench/run.py in its JSON (`dump` / `load`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Verdict:
    target: str  # what is promised, e.g. "wrong/answered on test <= 1.00%"
    measured: str  # the figure it was checked against, as shown
    passed: bool | None  # None: not measured in this run (e.g. a size left out with --sizes)

    @property
    def word(self) -> str:
        return {True: "PASS", False: "FAIL", None: "NOT MEASURED"}[self.passed]

    def line(self) -> str:
        return f"**{self.word}** — target: {self.target}; measured: {self.measured}."


def markdown(verdicts: list[Verdict]) -> str:
    """The section's verdict lines, one paragraph each."""
    return "\n\n".join(v.line() for v in verdicts)


def failed(verdicts: list[Verdict]) -> bool:
    """A FAIL, or no target checked at all (a section must state one)."""
    return not verdicts or any(v.passed is False for v in verdicts)


def dump(verdicts: list[Verdict]) -> list[dict]:
    return [asdict(v) for v in verdicts]


def load(data: list[dict]) -> list[Verdict]:
    return [Verdict(**v) for v in data]
