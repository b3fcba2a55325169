"""The LLM stage: routes the question to a tier and streams from the first one that produces a
first token in time (chatbot.llm.router does the work; this adapts it to the stage protocol)."""

import logging
from collections.abc import Awaitable, Callable

from chatbot.llm import notices
from chatbot.llm.prompt import build_messages
from chatbot.llm.router import STAGE, Router
from chatbot.pipeline.base import Answer, Turn
from chatbot.pipeline.trace import Trace, TraceStep

logger = logging.getLogger(__name__)

# Tells the visitor what is happening while no token has arrived yet (e.g. "failover").
Notify = Callable[[Turn, str], Awaitable[None]]


async def publish_status(turn: Turn, detail: str) -> None:
    """A `status` frame with a `detail` straight to the conversation's group: the stage runs
    before it has an answer to stream, so this is its only way to speak meanwhile."""
    from chatbot.answering import publish  # answering imports the stage registry

    try:
        await publish(
            turn.conversation_id,
            {
                "type": "status",
                "reply_to": turn.message_id,
                "stage": STAGE,
                "detail": detail,
                "text": notices.text(detail, turn.locale),
            },
        )
    except Exception:
        logger.warning("could not publish the %s status", detail, exc_info=True)


class LLMStage:
    name = STAGE

    def __init__(
        self,
        router: Router,
        *,
        system_prompt: str,
        history_budget: int,
        notify: Notify | None = publish_status,
    ) -> None:
        self.router = router
        self.system_prompt = system_prompt
        self.history_budget = history_budget
        self.notify = notify

    async def attempt(self, turn: Turn, trace: Trace) -> Answer | None:
        started = trace.elapsed_ms()
        route = await self.router.route(turn.text)
        trace.add(
            TraceStep(
                self.name,
                "routed",
                round(trace.elapsed_ms() - started, 2),
                detail=route.detail(),
            )
        )
        messages = build_messages(
            system_prompt=self.system_prompt,
            history=turn.history,
            question=turn.text,
            history_budget=self.history_budget,
        )
        retries = self.router.retries()

        async def failover() -> None:
            if self.notify is not None:
                await self.notify(turn, "failover")

        opened = await self.router.open(route.tiers, messages, trace, retries, on_failover=failover)
        if opened is None:
            return None
        return Answer(self.name, self.router.relay(opened, route, trace, retries, turn.locale))
