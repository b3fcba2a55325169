"""Last stage: always answers, politely, without any model."""

import asyncio
import re
from collections.abc import AsyncIterator

from django.conf import settings

from chatbot import copy
from chatbot.pipeline.base import Answer, Turn
from chatbot.pipeline.trace import Trace, TraceStep


def chunk_words(text: str) -> list[str]:
    """Split into word-sized pieces (with their spacing) so a canned answer streams like a live one.
    CJK text has no spaces, so it goes out a few characters at a time."""
    pieces = re.findall(r"\S+\s*|\s+", text)
    out: list[str] = []
    for piece in pieces:
        if len(piece) > 12 and not any(ch.isspace() for ch in piece.strip()):
            out.extend(piece[i : i + 4] for i in range(0, len(piece), 4))
        else:
            out.append(piece)
    return out


async def stream_text(text: str, delay_s: float | None = None) -> AsyncIterator[str]:
    """A stored answer streamed piece by piece, paced so the visitor sees it being written."""
    delay_s = settings.CHAT_STORED_ANSWER_TOKEN_DELAY_S if delay_s is None else delay_s
    for index, piece in enumerate(chunk_words(text)):
        if index and delay_s:
            await asyncio.sleep(delay_s)
        yield piece


class FallbackStage:
    name = "fallback"

    async def attempt(self, turn: Turn, trace: Trace) -> Answer:
        trace.add(TraceStep(self.name, "canned_answer", 0.0, detail={"template": "default"}))
        return Answer(self.name, stream_text(copy.render(copy.FALLBACK_ANSWER, turn.locale)))
