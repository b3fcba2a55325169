"""Today's spend on the embedded default (no Redis) starts from the stored costs: a model-tiers
walk found each restart gave the day's budget back in full while the router page's table showed
the day's real spend."""

import pytest
from channels.db import database_sync_to_async

from chatbot.llm import spend
from chatbot.models import DEMO_VISITOR_PREFIX, Conversation, Message
from chatbot.shared_state import reset_shared_state

pytestmark = pytest.mark.django_db(transaction=True)


def stored_answer(cost: float, *, token: str = "") -> None:
    conversation = Conversation.objects.create(visitor_token=token or "t")
    Message.objects.create(conversation=conversation, role="bot", text="a", cost_usd=cost)


async def test_a_restarted_process_counts_from_what_today_already_cost(settings):
    settings.REDIS_URL = ""
    await database_sync_to_async(stored_answer)(0.30)
    await database_sync_to_async(stored_answer)(9.0, token=DEMO_VISITOR_PREFIX + "1")
    assert await spend.spent() == pytest.approx(0.30), "the site's own, not the demo's"
    await spend.add(0.05)
    await database_sync_to_async(stored_answer)(0.05)  # the answer the cost was for
    assert await spend.spent() == pytest.approx(0.35), "read once: never counted twice"

    reset_shared_state()  # what a restart does to this process's memory
    assert await spend.spent() == pytest.approx(0.35)
    assert await spend.over_budget(0.35) and not await spend.over_budget(0.36)
