"""Per-visitor message limits: a token bucket per conversation (CHAT_VISITOR_MESSAGES_PER_MINUTE,
burst CHAT_VISITOR_MESSAGE_BURST), shared across processes through Redis when REDIS_URL is set."""

import time

from django.conf import settings

from chatbot.llm.limits import Bucket, Clock, take


async def visitor_message_allowed(
    conversation_public_id: str, *, clock: Clock = time.time
) -> tuple[bool, float]:
    """(allowed, seconds until the next message would be)."""
    bucket = Bucket(
        f"visitor:{conversation_public_id}",
        capacity=settings.CHAT_VISITOR_MESSAGE_BURST,
        refill_per_s=settings.CHAT_VISITOR_MESSAGES_PER_MINUTE / 60.0,
    )
    verdict = await take([bucket], clock=clock)
    return verdict.allowed, verdict.retry_after_s
