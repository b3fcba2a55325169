"""Replays JSONL turns through the whole answer pipeline and writes one JSONL result per turn.

    python manage.py replay turns.jsonl > results.jsonl
    cat turns.jsonl | python manage.py replay

Input lines are {"conversation": <any id>, "text": <question>[, "locale": "en"]}; each distinct
conversation becomes a real stored conversation, so history and follow-up context work as they
do on the websocket. Lines are answered in order, one at a time, and each result is written as
soon as it is known (a pipe can feed questions and read answers as they come). The model is
whatever the settings configure (LOCAL_LLM_BASE_URL, OPENAI_*, LLM_TIERS_*)."""

import asyncio
import json
import sys
from typing import IO, Any

from channels.db import database_sync_to_async
from django.core.management.base import BaseCommand, CommandError

from chatbot import services
from chatbot.answer_trace import Trace
from chatbot.llm.client import clients_close
from chatbot.models import Conversation
from chatbot.outcomes import Source
from chatbot.pipeline.base import DoneEvent
from chatbot.pipeline.orchestrator import run_pipeline
from chatbot.pipeline.registry import configured_stages
from chatbot.tasks import wait_for_drains


def result_record(text: str, done: DoneEvent) -> dict[str, Any]:
    """The output line for one answered turn."""
    summary = done.trace.summary()
    steps = done.trace.steps
    faq = next((s for s in steps if s.stage == Source.FAQ and done.source == Source.FAQ), None)
    cache = next((s for s in reversed(steps) if s.stage == Source.CACHE), None)
    return {
        "text": text,
        "source": done.source,
        "answer": done.text,
        "faq_id": faq.detail.get("faq_id") if faq else None,
        "cache_score": cache.score if cache else None,
        "model": summary["model"],
        "ttft_ms": summary["ttft_ms"],
        "total_ms": summary["total_ms"],
        "prompt_tokens": summary["prompt_tokens"],
        "completion_tokens": summary["completion_tokens"],
        "cost": summary["cost"],
    }


class Replayer:
    def __init__(self) -> None:
        self.conversations: dict[str, Conversation] = {}
        self.turns = 0

    def _store_visitor(self, key: str, text: str, locale: str) -> Any:
        conversation = self.conversations.get(key)
        if conversation is None:
            conversation = self.conversations[key] = services.conversation_start(locale=locale)
        self.turns += 1
        message, _ = services.visitor_message_store(
            conversation=conversation, client_id=f"replay-{self.turns}", text=text
        )
        return services.turn_build(message=message)

    async def answer(self, record: dict[str, Any]) -> dict[str, Any]:
        text = str(record["text"]).strip()
        key = str(record.get("conversation", self.turns))
        turn = await database_sync_to_async(self._store_visitor)(
            key, text, str(record.get("locale", "en"))
        )
        trace = Trace()
        result: dict[str, Any] = {}
        async for event in run_pipeline(turn, configured_stages(), trace):
            if isinstance(event, DoneEvent):
                await database_sync_to_async(services.bot_message_store)(
                    conversation_id=self.conversations[key].pk,
                    reply_to_id=turn.message_id,
                    text=event.text,
                    source=event.source,
                    trace=event.trace.to_dict(),
                )
                result = result_record(text, event)
        return result


async def replay(source: IO[str], sink: IO[str]) -> int:
    """Answers every line; then, as its event loop ends with it, lets queued-answer drains this
    loop started finish and closes the model clients it opened."""
    replayer = Replayer()
    try:
        while line := await asyncio.to_thread(source.readline):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict) or not str(record.get("text", "")).strip():
                    raise ValueError("needs a non-empty 'text'")
            except ValueError as exc:
                raise CommandError(f"bad input line {line.strip()[:80]!r}: {exc}") from exc
            sink.write(json.dumps(await replayer.answer(record), ensure_ascii=False) + "\n")
            sink.flush()
    finally:
        await wait_for_drains()
        await clients_close()
    return replayer.turns


class Command(BaseCommand):
    help = "Run JSONL turns through the answer pipeline; write JSONL results."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("input", nargs="?", help="JSONL file of turns (stdin when omitted)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["input"]:
            with open(options["input"], encoding="utf-8") as source:
                asyncio.run(replay(source, self.stdout))
        else:
            asyncio.run(replay(sys.stdin, self.stdout))
