"""The trace every answer carries: which stages ran, what each decided, and what it cost.

A leaf module: the stages, the model router and the cache stage all write to it
(docs/architecture.md, "Import map")."""

import time
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TraceStep:
    stage: str
    decision: str
    elapsed_ms: float
    score: float | None = None
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Trace:
    """Collects steps; timings are relative to when the visitor's message was stored."""

    started: float = field(default_factory=time.perf_counter)
    steps: list[TraceStep] = field(default_factory=list)
    source: str = ""
    ttft_ms: float | None = None
    total_ms: float | None = None

    def elapsed_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 2)

    def add(self, step: TraceStep) -> None:
        self.steps.append(step)

    def mark_first_token(self) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = self.elapsed_ms()

    def finish(self, source: str) -> None:
        self.source = source
        self.total_ms = self.elapsed_ms()

    def answering_step(self) -> TraceStep | None:
        for step in reversed(self.steps):
            if step.stage == self.source:
                return step
        return None

    def summary(self) -> dict[str, Any]:
        """The part the client sees in `done`."""
        step = self.answering_step()
        return {
            "source": self.source,
            "model": step.model if step else None,
            "score": step.score if step else None,
            "prompt_tokens": step.prompt_tokens if step else None,
            "completion_tokens": step.completion_tokens if step else None,
            "cost": step.cost if step else None,
            "ttft_ms": self.ttft_ms,
            "total_ms": self.total_ms,
            "grounded": step.detail.get("grounded") if step else None,
            # Which rule answered (`answer`, `exact`, `same_wording`): a same-wording match
            # carries the search's score, often under the threshold, and read as a mistake.
            "decision": step.decision if step and step.stage == "faq" else None,
        }

    def to_dict(self) -> dict[str, Any]:
        """The whole trace, stored with the bot message."""
        return {
            **self.summary(),
            "steps": [
                {k: v for k, v in asdict(step).items() if v not in (None, {})}
                for step in self.steps
            ],
        }
