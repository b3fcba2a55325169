"""Runs the ordered stages for one turn and turns the first answer into events."""

import logging
import re
from collections.abc import AsyncIterator, Sequence

from chatbot import metrics, visitor_copy
from chatbot.answer_trace import Trace, TraceStep
from chatbot.llm.router import close_stream
from chatbot.observability.logs import describe_error
from chatbot.outcomes import Decision
from chatbot.pipeline.base import (
    Answer,
    Citation,
    DoneEvent,
    Event,
    Stage,
    StatusEvent,
    TokenEvent,
    Turn,
)
from chatbot.pipeline.failures import FailureKind, failure_kind
from chatbot.pipeline.grounding import ground
from chatbot.pipeline.output_filter import settled

logger = logging.getLogger(__name__)


class NoStageAnswered(RuntimeError):
    """The last stage must always answer; this means the pipeline is misconfigured."""


async def run_pipeline(turn: Turn, stages: Sequence[Stage], trace: Trace) -> AsyncIterator[Event]:
    """Yields a status per stage tried, the answer's tokens, then one DoneEvent.

    A stage whose stream breaks before its first token is skipped; one that breaks later keeps
    what the visitor already saw and ends with a note, so nothing shown is ever repeated.

    Afterwards every stage with an `after_answer(turn, done)` hook is told how the turn ended
    (`done` is None when nothing answered), even when the run fails or is abandoned: the cache
    stores model answers there and releases the visitors waiting on the same question."""
    done: DoneEvent | None = None
    try:
        async for event in _run_stages(turn, stages, trace):
            if isinstance(event, DoneEvent):
                done = event
            yield event
    finally:
        await _after_answer(turn, stages, done)


async def _after_answer(turn: Turn, stages: Sequence[Stage], done: DoneEvent | None) -> None:
    for stage in stages:
        hook = getattr(stage, "after_answer", None)
        if hook is None:
            continue
        try:
            await hook(turn, done)
        except Exception:
            logger.exception("after_answer of stage %s failed", stage.name)


async def _attempt(stage: Stage, turn: Turn, trace: Trace) -> Answer | None:
    """The stage's answer, or None when it passes or fails: a stage that raises (a locked
    database, Redis not answering, a bug) is recorded and the next stage answers."""
    started = trace.elapsed_ms()
    try:
        return await stage.attempt(turn, trace)
    except Exception as exc:
        kind = failure_kind(exc)
        logger.warning(
            "stage %s failed (%s), the next stage answers: %s",
            stage.name,
            kind,
            describe_error(exc),
            exc_info=kind == FailureKind.INTERNAL,
        )
        metrics.STAGE_FAILURES.labels(stage.name, kind).inc()
        trace.add(
            TraceStep(
                stage.name,
                Decision.STAGE_FAILED,
                round(trace.elapsed_ms() - started, 2),
                detail={"error": type(exc).__name__, "kind": kind.value},
            )
        )
        return None


async def _run_stages(turn: Turn, stages: Sequence[Stage], trace: Trace) -> AsyncIterator[Event]:
    for stage in stages:
        yield StatusEvent(stage.name)
        answer = await _attempt(stage, turn, trace)
        if answer is None:
            continue
        parts: list[str] = []
        shown = 0  # characters sent; with an output check, only settled text is sent
        blocked: str | None = None
        gate = _GroundingGate(answer)
        try:
            async for token in answer.tokens:
                if not token:
                    continue
                trace.mark_first_token()
                parts.append(token)
                if answer.output_check is None and not gate.holding:
                    yield TokenEvent(token, whole=answer.whole)
                    shown += len(token)
                    continue
                ready = "".join(parts)
                if answer.output_check is not None:
                    ready = settled(ready)
                    blocked = answer.output_check.blocked(ready)
                    if blocked is not None:
                        break
                ready = gate.releasable(ready)
                if len(ready) > shown:
                    yield TokenEvent(ready[shown:])
                    shown = len(ready)
                if gate.stopped is not None:
                    break
        except Exception as exc:
            logger.exception("stage %s broke while streaming", stage.name)
            trace.add(
                TraceStep(
                    stage.name,
                    Decision.STREAM_FAILED,
                    trace.elapsed_ms(),
                    detail={"error": type(exc).__name__},
                )
            )
            if not parts:
                continue
            parts.append(visitor_copy.interrupted_note("".join(parts), turn.locale))  # sent below
        if blocked is not None or gate.stopped is not None:
            await close_stream(answer.tokens)  # the model's step is recorded as it closes
        text = "".join(parts)
        if answer.output_check is not None and blocked is None:
            blocked = answer.output_check.blocked(text)
        trace.finish(answer.source)
        if gate.stopped is not None and (step := trace.answering_step()) is not None:
            step.detail["stopped"] = gate.stopped
        if blocked is not None:
            instead, citations = _block(answer, blocked, trace)
            yield DoneEvent(answer.source, instead, trace, citations)
            return
        cited, citations = _cite(text, answer, trace)
        if cited == text and len(text) > shown:  # not replaced: the rest goes out now
            yield TokenEvent(text[shown:])
        yield DoneEvent(answer.source, cited, trace, citations)
        return
    raise NoStageAnswered(f"no stage answered turn {turn.message_id}")


# A sentence ends at . ! ? (or their full-width forms), with the citations that follow it.
_SENTENCE_END = re.compile(r"[.!?。！？](?:\s*(?:\[[^\]\n]{1,20}\]|【[^】\n]{1,20}】))*")


class _GroundingGate:
    """Holds back an answer given sources until what would be shown is grounded: the text up
    to the last sentence another has followed, checked as the final answer will be (a valid
    citation, no cited sentence its source does not bear out). An answer that cites nothing,
    or whose first claim its source does not support, is never streamed: it is replaced whole
    at the end instead of being shown and then taken back (docs/security.md).

    With `stop_ungrounded`, `stopped` says the answer cannot go out any more, so the
    replacement need not wait for the model to finish: a finished cited sentence its source does
    not bear out stays in the final answer and fails its check. (An answer that has cited
    nothing yet is not given up: one citation at the end of a paragraph grounds it.)"""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.holding = bool(answer.hold_ungrounded and answer.sources)
        self.stops = self.holding and answer.stop_ungrounded
        self.stopped: str | None = None
        self._checked_end = 0
        self._released = ""

    def releasable(self, text: str) -> str:
        if not self.holding:
            return text
        end = 0
        for match in _SENTENCE_END.finditer(text):
            after = text[match.end() :].lstrip()
            if after and after[0] not in "[【":  # another sentence has begun, not a citation
                end = match.end()
        if end > self._checked_end:
            self._checked_end = end
            grounding = ground(text[:end], self.answer.sources)
            if grounding.grounded:
                self._released = text[:end]
            elif self.stops and grounding.unsupported:
                self.stopped = "unsupported"
        return self._released


# Blocks for something the model made up (a link or an amount its sources never give), not for
# what the business refuses to discuss: the question may well be answerable, so the visitor gets
# what an ungrounded answer gets (suggested articles, LLM_UNGROUNDED) rather than a refusal.
INVENTED = ("unknown_link", "unknown_price")


def _block(answer: Answer, reason: str, trace: Trace) -> tuple[str, tuple[Citation, ...]]:
    """Records why the answer was stopped (the cache never keeps it) and returns what the
    visitor gets instead, with its citations."""
    kind = reason.split(":", 1)[0]
    step = trace.answering_step()
    if step is not None:
        step.detail["blocked"] = reason
    metrics.OUTPUT_BLOCKED.labels(kind).inc()
    logger.info("answer blocked by the output filter: %s", kind)
    if kind in INVENTED and answer.replace_ungrounded is not None:
        if step is not None and answer.sources:
            # Not borne out by its sources: it counts against the model as an uncited answer
            # does (chatbot.pipeline.ungrounded_tiers).
            step.detail["grounded"] = False
        return _replaced(answer.replace_ungrounded, answer, step)
    return answer.replace_blocked or "", ()


def _replaced(
    replacement: str, answer: Answer, step: TraceStep | None
) -> tuple[str, tuple[Citation, ...]]:
    """The stage's replacement for the model's text (suggested articles or the not-found
    answer, LLM_UNGROUNDED) with its citations, marked as such in the answering step."""
    if step is not None:
        step.detail["replaced"] = True
    return replacement, answer.replacement_citations


def _cite(text: str, answer: Answer, trace: Trace) -> tuple[str, tuple[Citation, ...]]:
    """The answer's citations, checked against the sources it was given; an answer given
    sources that cites none is marked `grounded: false` in its step (the cache never keeps it)
    and, when the stage asked for it, replaced by its not-found answer."""
    if not answer.sources:
        return text, answer.citations
    grounding = ground(text, answer.sources)
    step = trace.answering_step()
    if step is not None:
        step.detail["grounded"] = grounding.grounded
        step.detail["cited"] = list(grounding.cited)
        if grounding.invalid:
            step.detail["invalid_citations"] = list(grounding.invalid)
        if grounding.unsupported:
            step.detail["unsupported_sentences"] = len(grounding.unsupported)
    if not grounding.grounded:
        metrics.UNGROUNDED_ANSWERS.labels(
            "replaced" if answer.replace_ungrounded is not None else "sent"
        ).inc()
        if answer.replace_ungrounded is not None:
            return _replaced(answer.replace_ungrounded, answer, step)
        return text, ()  # no link under a claim its sources do not bear out
    return text, grounding.citations
