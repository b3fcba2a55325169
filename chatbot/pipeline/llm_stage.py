"""The LLM stage: streams from the first tier that produces a first token in time."""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence

from chatbot import copy
from chatbot.llm.client import StreamChunk, stream_chat
from chatbot.llm.prompt import build_messages, estimate_tokens
from chatbot.llm.tiers import Tier
from chatbot.pipeline.base import Answer, Turn
from chatbot.pipeline.trace import Trace, TraceStep

logger = logging.getLogger(__name__)

StreamFactory = Callable[[Tier, list[dict[str, str]]], AsyncIterator[StreamChunk]]


class LLMStage:
    name = "llm"

    def __init__(
        self,
        tiers: Sequence[Tier],
        *,
        system_prompt: str,
        history_budget: int,
        stream_factory: StreamFactory = stream_chat,
    ) -> None:
        self.tiers = list(tiers)
        self.system_prompt = system_prompt
        self.history_budget = history_budget
        self.stream_factory = stream_factory

    async def attempt(self, turn: Turn, trace: Trace) -> Answer | None:
        messages = build_messages(
            system_prompt=self.system_prompt,
            history=turn.history,
            question=turn.text,
            history_budget=self.history_budget,
        )
        for tier in self.tiers:
            started = trace.elapsed_ms()
            stream = aiter(self.stream_factory(tier, messages))
            try:
                first = await asyncio.wait_for(
                    _first_text(stream), timeout=tier.first_token_timeout_s
                )
            except Exception as exc:
                await _close(stream)
                logger.warning("tier %s failed before first token: %r", tier.name, exc)
                trace.add(
                    TraceStep(
                        self.name,
                        "tier_failed",
                        trace.elapsed_ms() - started,
                        model=tier.model,
                        detail={"tier": tier.name, "error": type(exc).__name__},
                    )
                )
                continue
            if first is None:
                trace.add(
                    TraceStep(
                        self.name, "empty_answer", trace.elapsed_ms() - started, model=tier.model
                    )
                )
                continue
            return Answer(
                self.name, self._relay(tier, messages, first, stream, turn, trace, started)
            )
        return None

    async def _relay(
        self,
        tier: Tier,
        messages: list[dict[str, str]],
        first: StreamChunk,
        stream: AsyncIterator[StreamChunk],
        turn: Turn,
        trace: Trace,
        started: float,
    ) -> AsyncIterator[str]:
        parts = [first.text]
        usage = StreamChunk(
            prompt_tokens=first.prompt_tokens, completion_tokens=first.completion_tokens
        )
        decision = "answered"
        yield first.text
        try:
            async with asyncio.timeout(tier.total_timeout_s):
                async for chunk in stream:
                    if chunk.prompt_tokens is not None:
                        usage = chunk
                    if chunk.text:
                        parts.append(chunk.text)
                        yield chunk.text
        except Exception as exc:
            logger.warning("tier %s failed mid-stream: %r", tier.name, exc)
            decision = "interrupted"
            note = copy.interrupted_note("".join(parts), turn.locale)
            parts.append(note)
            yield note
        finally:
            await _close(stream)
        prompt_tokens = usage.prompt_tokens or sum(estimate_tokens(m["content"]) for m in messages)
        completion_tokens = usage.completion_tokens or estimate_tokens("".join(parts))
        trace.add(
            TraceStep(
                self.name,
                decision,
                trace.elapsed_ms() - started,
                model=tier.model,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                cost=tier.cost(prompt_tokens, completion_tokens),
                detail={"tier": tier.name, "usage_estimated": usage.prompt_tokens is None},
            )
        )


async def _first_text(stream: AsyncIterator[StreamChunk]) -> StreamChunk | None:
    usage: StreamChunk | None = None
    async for chunk in stream:
        if chunk.text:
            if usage:
                chunk.prompt_tokens, chunk.completion_tokens = (
                    usage.prompt_tokens,
                    usage.completion_tokens,
                )
            return chunk
        usage = chunk
    return None


async def _close(stream: AsyncIterator[StreamChunk]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:
            logger.debug("closing a failed stream raised", exc_info=True)
