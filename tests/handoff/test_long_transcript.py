"""A conversation of thousands of messages (over a megabyte) no longer goes to the console in one
frame: it opens with its newest page and older pages come on request, so the agent's socket
stays up and the conversation can still be claimed (issue 16, finding 6)."""

import json

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from chatbot.handoff import selectors
from chatbot.models import Conversation, Message
from tests.handoff.conftest import agent_socket, make_agent

MESSAGES = 3000
TEXT = "x" * 990


def _long_conversation() -> tuple[Conversation, list[int]]:
    conversation = Conversation.objects.create(status="queued", queued_at=timezone.now())
    Message.objects.bulk_create(
        Message(conversation=conversation, role="visitor", text=f"{i:05d} {TEXT}")
        for i in range(MESSAGES)
    )
    ids = list(Message.objects.filter(conversation=conversation).values_list("id", flat=True))
    return conversation, sorted(ids)


@pytest.mark.django_db(transaction=True)
async def test_a_long_conversation_opens_paged_and_can_still_be_claimed(settings):
    ann = await database_sync_to_async(make_agent)("ann")
    conversation, ids = await database_sync_to_async(_long_conversation)()
    public_id = conversation.public_id
    async with agent_socket(ann) as agent:
        await agent.send({"type": "open", "conversation": public_id})
        transcript = await agent.recv_until("transcript")
        assert len(json.dumps(transcript)) < settings.CONSOLE_TRANSCRIPT_PAGE_BYTES + 20_000
        assert transcript["has_more"] is True
        seen = [m["id"] for m in transcript["messages"]]
        assert seen == ids[-len(seen) :] and len(seen) == settings.CONSOLE_TRANSCRIPT_PAGE_MESSAGES
        pages = 1
        while True:
            await agent.send({"type": "history", "conversation": public_id, "before": seen[0]})
            page = await agent.recv_until("history")
            seen = [m["id"] for m in page["messages"]] + seen
            pages += 1
            if not page["has_more"]:
                break
        assert seen == ids and pages == MESSAGES // settings.CONSOLE_TRANSCRIPT_PAGE_MESSAGES
        await agent.send({"type": "claim", "conversation": public_id})
        assert (await agent.recv_until("claimed"))["conversation"] == public_id
        await agent.send({"type": "history", "conversation": "nope", "before": 5})
        error = await agent.recv_until("error")
        assert error["code"] == "not_found"
        await agent.send({"type": "history", "conversation": public_id, "before": 0})
        assert (await agent.recv_until("error"))["code"] == "invalid_frame"


@pytest.mark.django_db
def test_a_page_is_capped_by_size_but_never_empty(settings):
    settings.CONSOLE_TRANSCRIPT_PAGE_BYTES = 5_000
    conversation = Conversation.objects.create()
    for i in range(6):
        Message.objects.create(conversation=conversation, role="visitor", text=f"{i} " + "y" * 2000)
    newest, more = selectors.messages_page(conversation_id=conversation.pk)
    assert [m["text"][0] for m in newest] == ["4", "5"] and more is True
    settings.CONSOLE_TRANSCRIPT_PAGE_BYTES = 10
    one, more = selectors.messages_page(conversation_id=conversation.pk, before=newest[0]["id"])
    assert [m["text"][0] for m in one] == ["3"] and more is True
    first, more = selectors.messages_page(
        conversation_id=conversation.pk, before=newest[0]["id"] - 3
    )
    assert [m["text"][0] for m in first] == ["0"] and more is False
