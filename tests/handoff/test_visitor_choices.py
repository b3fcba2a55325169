"""The visitor's way out of every state the widget puts them in (issue 19), over real websockets:
a thumbs-down asks instead of queueing ("try again" answers past the disliked stored answer; "a
person" queues), a queued visitor can go back to the bot, and writing to a closed conversation
reopens it (to the bot, or to the queue when the message asks for a person) with a system line
that says which."""

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from chatbot import answering
from chatbot.analytics import figures
from chatbot.handoff.services import REOPENED_TO_BOT, REOPENED_TO_QUEUE
from chatbot.models import Conversation, Message
from knowledge import services as knowledge
from tests.conftest import chat_socket
from tests.handoff.conftest import agent_socket
from tests.handoff.test_handoff import claimed, conversation, nothing_more, queued_by_button, until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("settle", "settle_handoffs"),
]

QUESTION = "What is your return policy?"
FAQ_ANSWER = "You can return unworn shoes within 30 days for a full refund."


@database_sync_to_async
def messages(public_id: str) -> list[tuple[str, str]]:
    return list(
        Message.objects.filter(conversation__public_id=public_id)
        .order_by("id")
        .values_list("role", "text")
    )


async def faq_answered(client) -> dict:
    await database_sync_to_async(knowledge.faq_save)(question=QUESTION, answer=FAQ_ANSWER)
    done = (await client.say(QUESTION, "q1"))[-1]
    assert done["source"] == "faq"
    return done


async def thumbs_down(client, message_id: int) -> None:
    await client.send({"type": "feedback", "message_id": message_id, "value": "down"})


# --- a thumbs-down asks -----------------------------------------------------------------------


async def test_a_thumbs_down_does_not_queue_and_the_bot_keeps_answering(upstream, settings):
    settings.CHAT_STORED_ANSWER_TOKEN_DELAY_S = 0
    async with chat_socket() as client:
        done = await faq_answered(client)
        await thumbs_down(client, done["message"]["id"])
        assert not [f for f in await nothing_more(client, 2.5) if f["type"] == "handoff"]
        assert (await client.say("Do you ship abroad?", "q2"))[-1]["type"] == "done"
    assert (await conversation(client.hello["conversation"])).status == "bot"


async def test_try_again_answers_the_question_again_past_the_disliked_faq_answer(
    upstream, settings
):
    settings.CHAT_STORED_ANSWER_TOKEN_DELAY_S = 0
    async with chat_socket() as client:
        done = await faq_answered(client)
        bot_id = done["message"]["id"]
        await client.send({"type": "feedback", "message_id": bot_id, "value": "down"})
        await client.send({"type": "retry", "client_id": "r1", "message_id": bot_id})
        frames = await client.recv_until("done")
        await client.send({"type": "retry", "client_id": "r2", "message_id": 999999})
        missing = await until(client, "error")
    ack = frames[0]
    assert ack["type"] == "ack" and ack["client_id"] == "r1" and not ack["duplicate"]
    again = frames[-1]
    assert again["reply_to"] == ack["message_id"]
    assert again["source"] == "llm" and again["message"]["text"] != FAQ_ANSWER
    assert upstream.stats.requests == 1
    assert [role for role, _ in await messages(client.hello["conversation"])] == [
        "visitor",
        "bot",
        "visitor",
        "bot",
    ]
    assert (await messages(client.hello["conversation"]))[2] == ("visitor", QUESTION)
    assert (missing["code"], missing["client_id"]) == ("not_found", "r2")
    # Asked once: the dashboard counts one visitor question, and the model's second try is
    # not an "unanswered by the FAQ" question.
    today = timezone.localdate()
    scope = figures.Scope.of_days(today, today)
    assert (await database_sync_to_async(figures.deflection)(scope)).visitor_messages == 1
    assert await database_sync_to_async(figures.top_unanswered)(scope) == []


class TurnSpy:
    """A first stage that passes, noting the turns the pipeline gets."""

    name = "spy"

    def __init__(self) -> None:
        self.turns: list[tuple[str, bool]] = []

    async def attempt(self, turn, trace) -> None:
        self.turns.append((turn.text, turn.retry))


async def test_try_again_reaches_the_stages_as_a_retry(upstream, settings, monkeypatch):
    """So the model stage asks a model even when every tier lately cited nothing."""
    settings.CHAT_STORED_ANSWER_TOKEN_DELAY_S = 0
    spy, configured = TurnSpy(), answering.configured_stages
    monkeypatch.setattr(
        answering, "configured_stages", lambda **kwargs: [spy, *configured(**kwargs)]
    )
    async with chat_socket() as client:
        done = await faq_answered(client)
        await client.send({"type": "retry", "client_id": "r1", "message_id": done["message"]["id"]})
        assert (await client.recv_until("done"))[-1]["source"] == "llm"
    assert spy.turns == [(QUESTION, False), (QUESTION, True)]


async def test_a_person_after_a_thumbs_down_queues_with_that_reason(upstream, settings):
    settings.CHAT_STORED_ANSWER_TOKEN_DELAY_S = 0
    async with chat_socket() as client:
        done = await faq_answered(client)
        await thumbs_down(client, done["message"]["id"])
        await client.send({"type": "handoff", "reason": "negative_feedback"})
        queued = await until(client, "handoff")
    assert (queued["status"], queued["reason"]) == ("queued", "negative_feedback")


# --- leaving the queue ------------------------------------------------------------------------


async def test_a_queued_visitor_goes_back_to_the_bot_and_agents_see_them_leave(upstream, agents):
    async with chat_socket() as client, agent_socket(agents["ann"]) as ann:
        public_id = client.hello["conversation"]
        await queued_by_button(client)
        await ann.recv_until(
            lambda f: (
                f["type"] == "conversations"
                and [i["conversation"] for i in f["items"]] == [public_id]
            )
        )
        await client.send({"type": "handoff_cancel"})
        told = await until(client, "conversation")
        await ann.recv_until(lambda f: f["type"] == "conversations" and f["items"] == [])
        answered = (await client.say("Do you ship abroad?", "c1"))[-1]
    assert told == {"type": "conversation", "status": "bot"}
    assert answered["type"] == "done" and answered["source"] == "llm"
    stored = await conversation(public_id)
    assert (stored.status, stored.queued_at) == ("bot", None)
    assert stored.handoff_reason == "visitor_request", "asked for a person: never deflected"


async def test_leaving_the_queue_once_an_agent_has_it_reports_the_agent(upstream, agents):
    async with chat_socket() as client, agent_socket(agents["ann"]) as ann:
        public_id = client.hello["conversation"]
        await queued_by_button(client)
        await claimed(ann, public_id)
        await until(client, "conversation")
        await client.send({"type": "handoff_cancel"})
        told = await until(client, "conversation")
    assert told == {"type": "conversation", "status": "agent"}
    assert (await conversation(public_id)).status == "agent"


# --- closed conversations ---------------------------------------------------------------------


async def closed_by_agent(client, ann) -> str:
    public_id = client.hello["conversation"]
    await queued_by_button(client)
    await claimed(ann, public_id)
    await ann.send({"type": "close", "conversation": public_id, "reason": "resolved"})
    await until(client, lambda f: f["type"] == "conversation" and f["status"] == "closed")
    return public_id


async def test_writing_to_a_closed_conversation_reopens_it_to_the_bot(upstream, agents):
    async with chat_socket() as client, agent_socket(agents["ann"]) as ann:
        public_id = await closed_by_agent(client, ann)
        await client.send({"type": "message", "client_id": "after", "text": "One more thing"})
        frames = await client.recv_until("done")
    types = [f["type"] for f in frames]
    assert types[0] == "ack"
    line = next(f["message"] for f in frames if f["type"] == "message")
    assert line["role"] == "system" and line["text"] == str(REOPENED_TO_BOT)
    assert {"type": "conversation", "status": "bot"} in frames
    assert frames[-1]["source"] == "llm"
    assert [role for role, _ in await messages(public_id)][-3:] == ["visitor", "system", "bot"]
    assert (await conversation(public_id)).status == "bot"


async def test_asking_for_a_person_in_a_closed_conversation_queues_it_and_says_so_in_chinese(
    upstream, agents
):
    async with chat_socket("?locale=zh-hans") as client, agent_socket(agents["ann"]) as ann:
        public_id = await closed_by_agent(client, ann)
        await client.send({"type": "message", "client_id": "after", "text": "转人工"})
        frames = await client.recv_until("handoff")
        frames += await nothing_more(client)
    line = next(f["message"] for f in frames if f["type"] == "message")
    assert line["role"] == "system" and line["text"] == "这个对话已重新开启，正在为您转接人工客服。"
    assert str(REOPENED_TO_QUEUE) != line["text"], "the English copy is translated"
    handoff = next(f for f in frames if f["type"] == "handoff")
    assert (handoff["status"], handoff["reason"]) == ("queued", "visitor_words")
    assert not {f["type"] for f in frames} & {"status", "token", "done"}
    stored = await database_sync_to_async(Conversation.objects.get)(public_id=public_id)
    assert stored.status == "queued"


async def test_going_in_and_out_of_the_queue_is_rate_limited(upstream, settings):
    """Each queue change is pushed to every agent's console: toggling must not be free."""
    settings.CHAT_VISITOR_MESSAGE_BURST = 2
    settings.CHAT_VISITOR_MESSAGES_PER_MINUTE = 1
    async with chat_socket() as client:
        for _ in range(2):
            await queued_by_button(client)
            await client.send({"type": "handoff_cancel"})
            assert (await until(client, "conversation"))["status"] == "bot"
        await queued_by_button(client)
        await client.send({"type": "handoff_cancel"})
        limited = await until(client, "error")
    assert limited["code"] == "rate_limited" and limited["retry_after"] > 0
    assert (await conversation(client.hello["conversation"])).status == "queued"


async def test_a_live_chat_has_the_looser_limit_and_the_bot_its_own(upstream, agents, settings):
    """People type in short bursts: with an agent, the bot's limit (burst 2 here) would tell
    the visitor to slow down mid-chat; the live-chat limit applies while people are in it."""
    settings.CHAT_VISITOR_MESSAGE_BURST = 2
    settings.CHAT_VISITOR_MESSAGES_PER_MINUTE = 1
    settings.CHAT_VISITOR_LIVE_MESSAGE_BURST = 6
    settings.CHAT_VISITOR_LIVE_MESSAGES_PER_MINUTE = 1
    async with agent_socket(agents["ann"]) as ann, chat_socket() as client:
        for n in range(2):  # the bot's whole burst, before asking for a person
            await client.say(f"question {n}", f"bot-{n}")
        await queued_by_button(client)
        await claimed(ann, client.hello["conversation"])
        await until(client, lambda f: f["type"] == "conversation" and f["status"] == "agent")
        replies = []
        for n in range(7):
            await client.send({"type": "message", "client_id": f"live-{n}", "text": f"line {n}"})
            replies.append(await until(client, lambda f: f["type"] in ("ack", "error")))
    assert [r["type"] for r in replies] == ["ack"] * 6 + ["error"]
    assert replies[-1]["code"] == "rate_limited"
