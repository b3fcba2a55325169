"""Handoff over real websockets (channels' WebsocketCommunicator, the full ASGI stack with
session auth): every trigger, the claim race, the relay both ways, the bot's silence while a
person has the conversation, return to the bot, close and rating, notes, and who may connect."""

import asyncio
from datetime import datetime

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.utils import timezone

from chatbot.handoff import hours
from chatbot.handoff.models import AgentNote, LeftMessage
from chatbot.handoff.selectors import asks_for_human, takes_back_the_request
from chatbot.llm.simulator import Faults
from chatbot.models import Conversation, Message, QueuedQuestion
from chatbot.services import user_display_name, visitor_facing_agent_name
from tests.conftest import FailingFirst, chat_socket
from tests.handoff.conftest import agent_socket, make_agent, online_agent, refused

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("settle", "settle_handoffs"),
]


@database_sync_to_async
def conversation(public_id: str) -> Conversation:
    return Conversation.objects.select_related("assigned_to").get(public_id=public_id)


@database_sync_to_async
def roles(public_id: str) -> list[str]:
    return list(
        Message.objects.filter(conversation__public_id=public_id)
        .order_by("id")
        .values_list("role", flat=True)
    )


async def nothing_more(client, seconds: float = 0.6) -> list[dict]:
    """Frames that arrive within `seconds` (without timing the socket out, which would end it)."""
    frames = []
    while not await client.ws.receive_nothing(timeout=seconds):
        frames.append(await client.recv())
    return frames


async def until(sock, match, timeout: float = 10) -> dict:
    """The first frame matching (a type name or a predicate), skipping the others."""
    predicate = match if callable(match) else (lambda f: f["type"] == match)
    while True:
        frame = await sock.recv(timeout)
        if predicate(frame):
            return frame


async def queued_by_button(client) -> dict:
    await client.send({"type": "handoff"})
    return await until(client, "handoff")


async def claimed(agent, public_id: str) -> None:
    await agent.send({"type": "open", "conversation": public_id})
    await agent.recv_until("transcript")
    await agent.send({"type": "claim", "conversation": public_id})
    await agent.recv_until("claimed")


# --- triggers -------------------------------------------------------------------------------


async def test_button_queues_and_the_visitor_sees_place_and_wait(upstream, agents):
    async with agent_socket(agents["ann"]), chat_socket() as first, chat_socket() as second:
        one = await queued_by_button(first)
        two = await queued_by_button(second)
    assert one["status"] == "queued" and one["reason"] == "visitor_request"
    assert one["position"] == 1 and one["agents_online"] == 1
    assert one["estimated_wait_s"] > 0
    assert two["position"] == 2 and two["estimated_wait_s"] > one["estimated_wait_s"]
    stored = await conversation(first.hello["conversation"])
    assert stored.status == "queued" and stored.queued_at is not None


async def test_the_queue_wave_does_not_repeat_the_place_the_visitor_was_just_given(upstream):
    """The visitor's own handoff frame, then the queue-wide wave with the same place: two
    identical frames (seen in a walk). A change of place still goes out, and asking again is
    still answered."""
    async with chat_socket() as first, chat_socket() as second:
        await queued_by_button(first)
        await asyncio.sleep(1.2)  # the wave (HANDOFF_QUEUE_BROADCAST_INTERVAL_S) has gone
        assert [f for f in await nothing_more(first) if f["type"] == "handoff"] == []
        assert (await queued_by_button(second))["position"] == 2
        await first.send({"type": "handoff_cancel"})
        await until(first, "conversation")
        assert (await until(second, "handoff"))["position"] == 1
        assert [f for f in await nothing_more(second, 1.2) if f["type"] == "handoff"] == []
        await second.send({"type": "handoff"})
        assert (await until(second, "handoff"))["position"] == 1


async def test_with_nobody_online_the_queue_gives_no_wait_estimate(upstream):
    """A wait computed as if one agent were online promised a reply that nobody would send."""
    async with chat_socket() as client:
        queued = await queued_by_button(client)
    assert queued["position"] == 1 and queued["agents_online"] == 0
    assert queued["estimated_wait_s"] is None


@pytest.mark.parametrize(
    "text",
    [
        "Can I talk to a human?",
        "I want to speak with an agent please",
        "I need a human",
        "转人工",
        "我要人工客服",
        "人工",
    ],
)
async def test_asking_in_words_queues_without_a_bot_answer(upstream, text):
    async with chat_socket("?locale=zh-hans") as client:
        await client.send({"type": "message", "client_id": "w1", "text": text})
        frames = await client.recv_until("handoff")
        frames += await nothing_more(client)
    assert frames[0]["type"] == "ack"
    assert not {f["type"] for f in frames} & {"status", "token", "done"}
    handoff = next(f for f in frames if f["type"] == "handoff")
    assert handoff["reason"] == "visitor_words" and handoff["position"] == 1
    assert await roles(client.hello["conversation"]) == ["visitor"]


@pytest.mark.parametrize(
    "text",
    [
        "Could I chat with a real person",
        "I need a human",
        "can I get a human?",
        "agent",
        "Agent please!",
        "customer service",
        "representative",
        "transfer me to an agent",
        "put me through to a person",
        "I want to speak to your manager",
        "i need to speak to customer service regarding my flight",
        "人工",
        "客服",
        "找客服",
        "我要找客服",
        "请帮我转客服",
        "给我转个人工",
        "我想和客服人员通话",
        "客服在吗？",
        "客服在不在",
        "现在客服在吗",
    ],
)
def test_words_that_ask_for_a_person(text):
    assert asks_for_human(text)


@pytest.mark.parametrize(
    "text",
    [
        "Is this jacket for humans or dogs?",
        "My agent number is 12",
        "Do you have a person who can fit boots in store?",
        "can I get a person's address changed",
        "I need a refund",
        "人工智能是什么",
        "物流和客服都很差",
        "客服电话是多少",
        "早上几点可以找客服",
        "周日客服在吗",  # the opening hours (a walk's question was queued for a person)
        "星期六客服在不在",
        "节假日客服在吗？",
        "周末可以联系客服吗",
    ],
)
def test_words_that_do_not_ask_for_a_person(text):
    assert not asks_for_human(text)


async def test_fallbacks_in_a_row_queue_when_an_agent_is_online(upstream_down, settings):
    settings.HANDOFF_WHEN_MODELS_DOWN = False
    settings.HANDOFF_FALLBACK_STREAK = 2
    await online_agent("online-bo")
    async with chat_socket() as client:
        first = await client.say("Where is my order?", "f1")
        assert first[-1]["source"] == "fallback"
        assert not [f for f in await nothing_more(client, 0.3) if f["type"] == "handoff"]
        await client.say("And my refund?", "f2")
        handoff = await until(client, "handoff")
    assert handoff["reason"] == "bot_unsure"


async def test_fallbacks_in_a_row_with_nobody_online_stay_with_the_bot(upstream_down, settings):
    """Queued, the bot would go silent until someone came online; the visitor can still ask for
    a person (and is then offered to leave a message)."""
    settings.HANDOFF_WHEN_MODELS_DOWN = False
    settings.HANDOFF_FALLBACK_STREAK = 2
    async with chat_socket() as client:
        await client.say("Where is my order?", "f3")
        await client.say("And my refund?", "f4")
        third = await client.say("And my parcel?", "f5")
        assert not [f for f in await nothing_more(client, 0.3) if f["type"] == "handoff"]
    assert third[-1]["source"] == "fallback", "the bot still answers"
    assert (await conversation(client.hello["conversation"])).status == "bot"


@pytest.mark.parametrize("words", ["never mind", "算了不用了"])
async def test_a_queued_visitor_who_takes_it_back_in_words_is_back_with_the_bot(upstream, words):
    """ "算了不用了" while queued left the conversation queued and the bot silent (a walk)."""
    async with chat_socket() as client:
        public_id = client.hello["conversation"]
        await queued_by_button(client)
        await client.send({"type": "message", "client_id": "w1", "text": words})
        back = await until(client, lambda f: f["type"] == "conversation")
        frames = await nothing_more(client)
        answered = await client.say("Do you sell gift cards?", "w2")
    assert back == {"type": "conversation", "status": "bot"}
    assert "token" not in [f["type"] for f in frames], "the bot does not answer 'never mind'"
    assert answered[-1]["type"] == "done"
    assert (await conversation(public_id)).status == "bot"


@pytest.mark.parametrize(
    "text",
    ["never mind", "算了", "不用了，谢谢", "cancel", "I don't need a human anymore", "nvm"],
)
def test_words_that_take_back_a_request_for_a_person(text):
    assert takes_back_the_request(text)


@pytest.mark.parametrize(
    "text",
    ["cancel my order", "不用了，我想退货", "取消订单", "no", "never mind the jacket, the tent?"],
)
def test_words_that_do_not_take_it_back(text):
    assert not takes_back_the_request(text)


async def test_a_yes_to_anything_else_is_not_a_request_for_a_person(upstream):
    async with chat_socket() as client:
        assert (await client.say("hi", "y1"))[-1]["source"] == "small_talk"
        done = (await client.say("yes", "y2"))[-1]
        frames = await nothing_more(client)
    assert done["source"] == "small_talk"
    assert not [f for f in frames if f["type"] == "handoff"]
    assert (await conversation(client.hello["conversation"])).status == "bot"


KEPT = "I've kept your question and will answer it here as soon as I can."


async def test_every_model_down_queues_at_once_when_an_agent_is_online(upstream_down):
    """A person answers it, so the bot promises no answer of its own: a walk read "I've kept
    your question and will answer it here" above "we're passing your question to a member of
    our team", and the bot, which never writes into a queued conversation, never did."""
    await online_agent("online-ann")
    async with chat_socket() as client:
        frames = await client.say("Where is my parcel?", "d1")
        handoff = await until(client, "handoff")
    assert frames[-1]["source"] == "fallback"
    # Nor does it offer the person the queue is already bringing (a re-walk).
    assert frames[-1]["message"]["text"] == "Sorry, I can't answer that myself right now."
    assert handoff["reason"] == "models_down"
    assert not await database_sync_to_async(QueuedQuestion.objects.exists)()


async def test_every_model_down_with_nobody_online_stays_with_the_bot(upstream_down):
    """The fallback promised to answer the kept question here once a model is back."""
    async with chat_socket() as client:
        frames = await client.say("Where is my parcel?", "d2")
        assert not [f for f in await nothing_more(client, 0.3) if f["type"] == "handoff"]
    assert frames[-1]["source"] == "fallback"
    assert KEPT in frames[-1]["message"]["text"]
    assert "ask to talk to a person" in frames[-1]["message"]["text"]
    assert (await conversation(client.hello["conversation"])).status == "bot"
    assert await database_sync_to_async(QueuedQuestion.objects.count)() == 1


# --- the bot stays silent -------------------------------------------------------------------


async def test_bot_never_answers_while_queued_or_with_an_agent(upstream, agents):
    async with chat_socket() as client, agent_socket(agents["ann"]) as ann:
        public_id = client.hello["conversation"]
        await queued_by_button(client)
        await client.send({"type": "message", "client_id": "q1", "text": "Still there?"})
        frames = [await client.recv()] + await nothing_more(client)
        assert frames[0]["type"] == "ack"
        assert not {f["type"] for f in frames} & {"status", "token", "done"}
        # A resend of the same message is not answered either.
        await client.send({"type": "message", "client_id": "q1", "text": "Still there?"})
        assert (await client.recv())["duplicate"] is True
        await claimed(ann, public_id)
        await client.send(
            {"type": "message", "client_id": "q2", "text": "What is your refund policy?"}
        )
        frames = await nothing_more(client)
        assert not {f["type"] for f in frames} & {"status", "token", "done"}
    assert await roles(public_id) == ["visitor", "visitor"]
    assert upstream.stats.requests == 0


async def test_a_handoff_mid_answer_cuts_the_answer_off(upstream):
    """Decision: the answer being written is dropped (`cancelled`), nothing is stored, and the
    bot never speaks after the handoff."""
    upstream.faults = Faults(token_delay_s=0.08)
    async with chat_socket() as client:
        public_id = client.hello["conversation"]
        await client.send({"type": "message", "client_id": "m1", "text": "Explain your warranty"})
        token = await until(client, "token")
        await client.send({"type": "handoff"})
        frames = await client.recv_until("cancelled")
        frames += await nothing_more(client, 1.0)
    assert (
        token["reply_to"] == frames[-1]["reply_to"] if frames[-1]["type"] == "cancelled" else True
    )
    cancelled = next(f for f in frames if f["type"] == "cancelled")
    assert cancelled["reply_to"] == token["reply_to"] and cancelled["reason"] == "handoff"
    assert "done" not in {f["type"] for f in frames}
    assert "handoff" in {f["type"] for f in frames}
    after_handoff = frames[[f["type"] for f in frames].index("handoff") :]
    assert sum(f["type"] == "token" for f in after_handoff) <= 1, "cut off at once, not at the end"
    assert await roles(public_id) == ["visitor"]
    assert (await conversation(public_id)).status == "queued"


# --- agents ---------------------------------------------------------------------------------


async def test_claim_race_has_exactly_one_winner_and_everyone_sees_it(upstream, agents):
    async with (
        chat_socket() as client,
        agent_socket(agents["ann"]) as ann,
        agent_socket(agents["bob"]) as bob,
    ):
        public_id = client.hello["conversation"]
        await queued_by_button(client)
        for agent in (ann, bob):
            listed = await agent.recv_until(
                lambda f: (
                    f["type"] == "conversations"
                    and [i["conversation"] for i in f["items"]] == [public_id]
                )
            )
            assert listed["items"][0]["status"] == "queued"
        await asyncio.gather(
            ann.send({"type": "claim", "conversation": public_id}),
            bob.send({"type": "claim", "conversation": public_id}),
        )
        results = await asyncio.gather(
            ann.recv_until(lambda f: f["type"] in ("claimed", "error")),
            bob.recv_until(lambda f: f["type"] in ("claimed", "error")),
        )
        for agent in (ann, bob):  # both lists update at once
            await agent.recv_until(
                lambda f: f["type"] == "conversations" and f["items"][0]["status"] == "agent"
            )
        told = await until(client, "conversation")
    kinds = sorted(r["type"] for r in results)
    assert kinds == ["claimed", "error"]
    loser = next(r for r in results if r["type"] == "error")
    winner = "ann" if results[0]["type"] == "claimed" else "bob"
    assert loser["code"] == "already_claimed" and loser["owner"] == winner
    assert told == {"type": "conversation", "status": "agent", "agent": winner}
    assert (await conversation(public_id)).assigned_to.username == winner


async def test_chat_both_ways_with_typing(upstream, agents):
    async with chat_socket() as client, agent_socket(agents["ann"]) as ann:
        public_id = client.hello["conversation"]
        await queued_by_button(client)
        await claimed(ann, public_id)
        await until(client, "conversation")

        await ann.send({"type": "typing", "conversation": public_id, "active": True})
        assert (await until(client, "typing")) == {
            "type": "typing",
            "role": "agent",
            "active": True,
        }
        await ann.send(
            {"type": "send", "conversation": public_id, "client_id": "a-1", "text": "Hi, I'm Ann."}
        )
        ack = await ann.recv_until("ack")
        to_visitor = await until(client, "message")
        assert to_visitor["message"]["role"] == "agent"
        assert to_visitor["message"]["text"] == "Hi, I'm Ann."
        assert to_visitor["message"]["id"] == ack["message_id"]
        assert to_visitor["message"]["author"] == {"name": "ann"}  # the widget shows who wrote

        await client.send({"type": "typing", "active": True})
        typing = await ann.recv_until("typing")
        assert typing == {
            "type": "typing",
            "conversation": public_id,
            "role": "visitor",
            "active": True,
        }
        await client.send({"type": "message", "client_id": "v-1", "text": "Thanks Ann!"})
        visitor_ack = await until(client, "ack")
        stored_at = datetime.fromisoformat(visitor_ack["created"])
        assert abs((timezone.now() - stored_at).total_seconds()) < 60
        to_agent = await ann.recv_until(
            lambda f: f["type"] == "message" and f["message"]["role"] == "visitor"
        )
    assert to_agent["conversation"] == public_id and to_agent["message"]["text"] == "Thanks Ann!"
    stored = await conversation(public_id)
    assert stored.first_agent_reply_at is not None and stored.last_visitor_message_at is not None
    assert await roles(public_id) == ["agent", "visitor"]


@pytest.mark.parametrize(
    "failing",
    [
        # What the typing frame asks: who owns the conversation (a walk).
        "conversation_owner_id",
        # The session check every frame runs first (a re-walk).
        "still_signed_in_agent",
    ],
)
async def test_typing_the_database_fails_on_is_dropped_without_an_error(
    upstream, agents, monkeypatch, failing
):
    """After a PostgreSQL restart the console said "That did not work (internal)" for a
    typing frame, when the reply sent a moment later went."""
    from django.db import OperationalError

    from chatbot.handoff import selectors as handoff_selectors

    async with chat_socket() as client, agent_socket(agents["ann"]) as ann:
        public_id = client.hello["conversation"]
        await queued_by_button(client)
        await claimed(ann, public_id)
        await until(client, "conversation")
        restarting = FailingFirst(
            getattr(handoff_selectors, failing),
            OperationalError("terminating connection due to unexpected postmaster exit"),
        )
        monkeypatch.setattr(handoff_selectors, failing, restarting)
        await ann.send({"type": "typing", "conversation": public_id, "active": True})
        await ann.send(
            {"type": "send", "conversation": public_id, "client_id": "a-1", "text": "Hi"}
        )
        frames = []
        await ann.recv_until(lambda f: frames.append(f) or f["type"] == "ack")
    assert restarting.failed, "the typing frame met the failing database"
    assert "error" not in [f["type"] for f in frames]


async def test_read_receipts_reach_the_agent_once_and_only_for_their_own_messages(upstream, agents):
    async with chat_socket() as client, agent_socket(agents["ann"]) as ann:
        public_id = client.hello["conversation"]
        await queued_by_button(client)
        await claimed(ann, public_id)
        await until(client, "conversation")
        for n in (1, 2):
            await ann.send(
                {"type": "send", "conversation": public_id, "client_id": f"a-{n}", "text": "Hi"}
            )
            await until(client, "message")
        first, second = await database_sync_to_async(list)(
            Message.objects.filter(conversation__public_id=public_id, role="agent")
            .order_by("id")
            .values_list("id", flat=True)
        )

        await client.send({"type": "read", "up_to": first})
        assert (await ann.recv_until("read")) == {
            "type": "read",
            "conversation": public_id,
            "up_to": first,
        }
        # Past the newest agent message: the mark stops at it; again: nothing new to tell.
        await client.send({"type": "read", "up_to": second + 1000})
        assert (await ann.recv_until("read"))["up_to"] == second
        await client.send({"type": "read", "up_to": second})
        await client.send({"type": "typing", "active": True})
        assert (await ann.recv_until(lambda f: f["type"] in ("read", "typing")))["type"] == "typing"
    stored = await conversation(public_id)
    assert stored.visitor_read_up_to == second


async def test_a_read_receipt_cannot_name_another_conversations_messages(upstream, agents):
    async with chat_socket() as other, agent_socket(agents["ann"]) as ann:
        other_id = other.hello["conversation"]
        await queued_by_button(other)
        await claimed(ann, other_id)
        await ann.send({"type": "send", "conversation": other_id, "client_id": "a-1", "text": "Hi"})
        sent = await until(other, "message")
    async with chat_socket() as client:
        await client.send({"type": "message", "client_id": "v-1", "text": "Hello"})
        await until(client, "ack")
        await client.send({"type": "read", "up_to": sent["message"]["id"]})
        await client.send({"type": "resume", "after": 0})
        await until(client, "resumed")
        public_id = client.hello["conversation"]
    assert (await conversation(public_id)).visitor_read_up_to is None
    assert (await conversation(other_id)).visitor_read_up_to is None


async def test_only_the_owner_replies_and_others_see_who_owns_and_views(upstream, agents):
    async with (
        chat_socket() as client,
        agent_socket(agents["ann"]) as ann,
        agent_socket(agents["bob"]) as bob,
    ):
        public_id = client.hello["conversation"]
        await queued_by_button(client)
        await claimed(ann, public_id)
        await bob.send({"type": "open", "conversation": public_id})
        transcript = await bob.recv_until("transcript")
        assert transcript["owner"]["name"] == "ann" and transcript["status"] == "agent"
        viewers = await ann.recv_until(lambda f: f["type"] == "viewers" and len(f["viewers"]) == 2)
        assert viewers["viewers"] == ["ann", "bob"]
        errors = []
        for frame in (
            {"type": "send", "conversation": public_id, "client_id": "b-1", "text": "Bob here"},
            {"type": "return_to_bot", "conversation": public_id},
        ):
            await bob.send(frame)
            errors.append(await bob.recv_until("error"))
        assert [e["code"] for e in errors] == ["not_owner"] * 2
        # His typing goes nowhere, without an error (its notice replaced a refused reply's).
        await bob.send({"type": "typing", "conversation": public_id, "active": True})
        assert "error" not in [f["type"] for f in await nothing_more(bob, 0.3)]
        assert errors[0]["owner"] == "ann"
        # A refused reply names itself: the console keeps replies until acked or refused.
        assert errors[0]["client_id"] == "b-1" and "client_id" not in errors[1]
        assert not [
            f for f in await nothing_more(client, 0.3) if f["type"] in ("message", "typing")
        ]
    assert await roles(public_id) == []


async def test_return_to_the_bot_and_the_bot_answers_again(upstream, agents):
    async with chat_socket() as client, agent_socket(agents["ann"]) as ann:
        public_id = client.hello["conversation"]
        await queued_by_button(client)
        await claimed(ann, public_id)
        await ann.send({"type": "return_to_bot", "conversation": public_id})
        told = await until(client, lambda f: f["type"] == "conversation" and f["status"] == "bot")
        frames = await client.say("Do you sell gift cards?", "r1")
    assert told == {"type": "conversation", "status": "bot"}
    assert frames[-1]["source"] == "llm"
    stored = await conversation(public_id)
    assert stored.status == "bot" and stored.assigned_to is None


async def test_a_message_published_just_after_the_transcript_is_read_still_reaches_the_console(
    upstream, agents, monkeypatch
):
    """After a Redis outage a reconnected console missed two visitor messages for good (a
    walk): it read the transcript, then joined the conversation's group, and what was
    published between the two was in neither. The group is joined first now."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from chatbot import realtime
    from chatbot.consumers.agent import AgentConsumer

    real_detail = AgentConsumer._detail
    late = {"id": 10_000_001, "role": "visitor", "text": "Hello?", "created": ""}

    def read_then_a_message_is_published(public_id):
        detail = real_detail(public_id)
        async_to_sync(get_channel_layer().group_send)(
            realtime.conversation_group(public_id),
            {"type": "chat.frame", "frame": {"type": "message", "message": late}},
        )
        return detail

    monkeypatch.setattr(AgentConsumer, "_detail", staticmethod(read_then_a_message_is_published))
    async with chat_socket() as client, agent_socket(agents["ann"]) as ann:
        public_id = client.hello["conversation"]
        await client.say("Where is my parcel?", "q0")
        await ann.send({"type": "open", "conversation": public_id})
        await ann.recv_until("transcript")
        arrived = await ann.recv_until(lambda f: f["type"] == "message", timeout=3)
    assert arrived["message"] == late and arrived["conversation"] == public_id


async def test_an_agent_viewing_a_queued_conversation_is_not_sent_its_queue_place(upstream, agents):
    """The visitor's `handoff` (their place) reached every agent viewing, twice per queueing
    (their own, then the queue wave's): the console has no use for it."""
    async with chat_socket() as client, agent_socket(agents["ann"]) as ann:
        public_id = client.hello["conversation"]
        await client.say("Where is my parcel?", "q0")
        await ann.send({"type": "open", "conversation": public_id})
        await ann.recv_until("transcript")
        await queued_by_button(client)
        await until(ann, "conversations")
        frames = await nothing_more(ann)
    assert "handoff" not in [f["type"] for f in frames]


async def test_a_socket_opened_on_a_claimed_conversation_is_told_who_has_it(upstream, agents):
    """A reload names the person, as the live join did; the bot's own hello names nobody."""
    async with chat_socket() as client, agent_socket(agents["ann"]) as ann:
        public_id, token = client.hello["conversation"], client.hello["token"]
        assert "agent" not in client.hello
        await queued_by_button(client)
        await claimed(ann, public_id)
        joined = await until(client, lambda f: f["type"] == "conversation")
        async with chat_socket(f"?conversation={public_id}&token={token}") as reloaded:
            hello = reloaded.hello
    assert joined["agent"] == "ann"
    assert (hello["status"], hello["agent"]) == ("agent", "ann")


async def test_a_reload_gets_the_join_and_hand_back_notices_where_they_happened(upstream, agents):
    """ "ann has joined the chat" was said live and never stored: after a reload the agents'
    whole chat sat under no notice (a walk). hello's `notices` name each join and hand-back
    with the newest message before it."""
    async with chat_socket() as client, agent_socket(agents["ann"]) as ann:
        public_id, token = client.hello["conversation"], client.hello["token"]
        await client.say("Where is my parcel?", "q1")
        async with chat_socket(f"?conversation={public_id}&token={token}") as before:
            assert before.hello["notices"] == []
        await queued_by_button(client)
        await claimed(ann, public_id)
        await until(client, "conversation")
        await ann.send(
            {"type": "send", "conversation": public_id, "client_id": "a-1", "text": "Hi"}
        )
        said_by_ann = (await ann.recv_until("ack"))["message_id"]
        await ann.send({"type": "assign", "conversation": public_id, "agent": agents["bob"].pk})
        await ann.recv_until("assign_done")
        await until(client, lambda f: f["type"] == "conversation" and f.get("agent") == "bob")
        async with agent_socket(agents["bob"]) as bob:
            await bob.send(
                {"type": "send", "conversation": public_id, "client_id": "b-1", "text": "Bob here"}
            )
            said_by_bob = (await bob.recv_until("ack"))["message_id"]
            await bob.send({"type": "return_to_bot", "conversation": public_id})
            await until(client, lambda f: f["type"] == "conversation" and f["status"] == "bot")
        async with chat_socket(f"?conversation={public_id}&token={token}") as reloaded:
            notices = reloaded.hello["notices"]
    bot_answer = await database_sync_to_async(
        lambda: (
            Message.objects.filter(conversation__public_id=public_id, role="bot").latest("id").id
        )
    )()
    assert notices == [
        {"kind": "joined", "name": "ann", "after_id": bot_answer},
        {"kind": "joined", "name": "bob", "after_id": said_by_ann},
        {"kind": "bot", "name": "", "after_id": said_by_bob},
    ]


async def test_visitors_never_read_a_nameless_agents_login_name(upstream):
    """An account without a name was shown to visitors by its login ("admin from our team has
    joined"): half of what signs in to the console. Visitors read "Agent"; the team still tells
    colleagues apart by login in the console."""
    nameless = await database_sync_to_async(make_agent)("ops-login-7", first_name="")
    async with chat_socket() as client, agent_socket(nameless) as agent:
        public_id, token = client.hello["conversation"], client.hello["token"]
        await queued_by_button(client)
        await claimed(agent, public_id)
        joined = await until(client, lambda f: f["type"] == "conversation")
        await agent.send(
            {"type": "send", "conversation": public_id, "client_id": "a-1", "text": "Hi"}
        )
        said = await until(
            client, lambda f: f["type"] == "message" and f["message"]["role"] == "agent"
        )
        live = await agent.recv_until(
            lambda f: f["type"] == "message" and f["message"]["role"] == "agent"
        )
        async with chat_socket(f"?conversation={public_id}&token={token}") as reloaded:
            hello = reloaded.hello
        await agent.send({"type": "open", "conversation": public_id})
        transcript = await agent.recv_until("transcript")
    assert joined["agent"] == "" and hello["agent"] == ""
    assert agent.hello["agent"]["visitor_name"] == "", "what {{agent.name}} fills in a reply"
    assert said["message"]["author"]["name"] == ""
    [line] = [m for m in transcript["messages"] if m["role"] == "agent"]
    assert line["author"]["name"] == "ops-login-7"
    # Live, the console named its own reply "Agent", and its login after a reload.
    assert live["message"]["author"]["name"] == "ops-login-7"


def test_a_chinese_name_is_family_name_first_without_a_space(db):
    """`get_full_name` made 王小明 "小明 王" (and a console walk read "王 组长")."""
    chinese = User(username="wxm", first_name="小明", last_name="王")
    english = User(username="al", first_name="Ann", last_name="Lee")
    assert visitor_facing_agent_name(chinese) == user_display_name(chinese) == "王小明"
    assert visitor_facing_agent_name(english) == "Ann Lee"
    assert visitor_facing_agent_name(User(username="ops7")) == ""
    assert user_display_name(User(username="ops7")) == "ops7"


async def test_close_with_reason_and_rating(upstream, agents):
    async with chat_socket() as client, agent_socket(agents["ann"]) as ann:
        public_id = client.hello["conversation"]
        await client.send({"type": "rating", "score": 5})
        assert (await until(client, "error"))["code"] == "not_closed"
        await queued_by_button(client)
        await claimed(ann, public_id)
        await ann.send({"type": "close", "conversation": public_id, "reason": "resolved"})
        told = await until(
            client, lambda f: f["type"] == "conversation" and f["status"] == "closed"
        )
        await client.send({"type": "rating", "score": 4, "comment": "Quick, thanks"})
        rated = await until(client, "rated")
        # The agent viewing it reads the rating in its header now, not after reopening it.
        seen = await until(ann, "rated")
    assert told["ask_rating"] is True and rated == {"type": "rated", "score": 4}
    assert seen == {
        "type": "rated",
        "conversation": public_id,
        "rating": 4,
        "comment": "Quick, thanks",
    }
    stored = await conversation(public_id)
    assert (stored.status, stored.close_reason, stored.rating, stored.rating_comment) == (
        "closed",
        "resolved",
        4,
        "Quick, thanks",
    )


async def test_an_agents_typing_shows_to_other_agents_not_in_their_own_other_tab(upstream, agents):
    async with (
        chat_socket() as client,
        agent_socket(agents["ann"]) as ann,
        agent_socket(agents["ann"]) as ann_other_tab,
        agent_socket(agents["bob"]) as bob,
    ):
        public_id = client.hello["conversation"]
        await queued_by_button(client)
        await claimed(ann, public_id)
        for viewer in (ann_other_tab, bob):
            await viewer.send({"type": "open", "conversation": public_id})
            await viewer.recv_until("transcript")
        await ann.send({"type": "typing", "conversation": public_id, "active": True})
        assert (await until(bob, "typing"))["role"] == "agent"
        assert (await until(client, "typing"))["role"] == "agent"
        assert "typing" not in [f["type"] for f in await nothing_more(ann_other_tab)]


async def test_a_conversation_closed_as_spam_asks_for_no_rating(upstream, agents):
    async with chat_socket() as client, agent_socket(agents["ann"]) as ann:
        public_id = client.hello["conversation"]
        await queued_by_button(client)
        await ann.send({"type": "close", "conversation": public_id, "reason": "spam"})
        told = await until(
            client, lambda f: f["type"] == "conversation" and f["status"] == "closed"
        )
    assert told["ask_rating"] is False
    assert (await conversation(public_id)).close_reason == "spam"


async def test_a_rating_reaches_the_visitors_other_tab(upstream, agents):
    async with chat_socket() as client, agent_socket(agents["ann"]) as ann:
        public_id, token = client.hello["conversation"], client.hello["token"]
        async with chat_socket(f"?conversation={public_id}&token={token}") as other_tab:
            await queued_by_button(client)
            await claimed(ann, public_id)
            await ann.send({"type": "close", "conversation": public_id, "reason": "resolved"})
            await until(
                other_tab, lambda f: f["type"] == "conversation" and f["status"] == "closed"
            )
            await client.send({"type": "rating", "score": 5})
            assert await until(client, "rated") == {"type": "rated", "score": 5}
            assert await until(other_tab, "rated") == {"type": "rated", "score": 5}


async def test_notes_reach_agents_and_never_the_visitor(upstream, agents):
    async with (
        chat_socket() as client,
        agent_socket(agents["ann"]) as ann,
        agent_socket(agents["bob"]) as bob,
    ):
        public_id = client.hello["conversation"]
        await queued_by_button(client)
        await claimed(ann, public_id)
        await bob.send({"type": "open", "conversation": public_id})
        await bob.recv_until("transcript")
        await ann.send({"type": "note", "conversation": public_id, "text": "VIP, secret 4242"})
        note = await bob.recv_until("note")
        seen = await nothing_more(client, 0.5)
        await client.send({"type": "resume", "after": 0})
        seen += await client.recv_until("resumed")
        # A second visitor socket on another conversation hears nothing of it either.
    assert note["note"]["text"] == "VIP, secret 4242" and note["note"]["author"] == "ann"
    assert "4242" not in repr(seen)
    assert await database_sync_to_async(AgentNote.objects.count)() == 1


async def test_transcript_has_bot_turns_with_trace_and_feedback(upstream, agents):
    async with chat_socket() as client, agent_socket(agents["ann"]) as ann:
        public_id = client.hello["conversation"]
        done = (await client.say("Where is my parcel?", "t1"))[-1]
        await client.send({"type": "feedback", "message_id": done["message"]["id"], "value": "up"})
        await asyncio.sleep(0.2)
        await queued_by_button(client)
        await ann.send({"type": "open", "conversation": public_id})
        transcript = await ann.recv_until("transcript")
    bot = transcript["messages"][1]
    assert bot["role"] == "bot" and bot["source"] == "llm"
    assert bot["trace"]["model"] == "sim-model" and bot["trace"]["completion_tokens"] > 0
    assert bot["trace"]["total_ms"] is not None
    assert bot["feedback"] == {"value": "up", "comment": ""}
    assert transcript["reason"] == "visitor_request" and transcript["locale"] == "en"


async def test_unclaimed_reply_goes_back_to_the_queue(upstream, agents, settings):
    settings.HANDOFF_CLAIM_TIMEOUT_S = 0.3
    settings.HANDOFF_SWEEP_INTERVAL_S = 0.1
    async with chat_socket() as client, agent_socket(agents["ann"]) as ann:
        public_id = client.hello["conversation"]
        await queued_by_button(client)
        await claimed(ann, public_id)
        await until(client, "conversation")
        again = await until(client, "handoff", timeout=5)
        listed = await ann.recv_until(
            lambda f: f["type"] == "conversations" and f["items"][0]["status"] == "queued"
        )
    assert again["position"] == 1
    assert listed["items"][0]["owner"] is None
    assert (await conversation(public_id)).status == "queued"


async def test_presence_counts_and_leave_a_message(upstream, agents):
    async with chat_socket() as client:
        public_id = client.hello["conversation"]
        nobody = await queued_by_button(client)
        assert nobody["agents_online"] == 0
        await client.send({"type": "leave_message", "email": "not-an-email", "text": "hi"})
        assert (await until(client, "error"))["code"] == "invalid_email"
        await client.send({"type": "message", "client_id": "q1", "text": "Anyone there?"})
        asked = (await until(client, "ack"))["message_id"]
        await client.send(
            {"type": "leave_message", "email": "ada@example.com", "text": "Call me back"}
        )
        left = await until(client, "left_message")
        assert (left["email"], left["text"]) == ("ada@example.com", "Call me back")
        token = client.hello["token"]
        # A reload: the visitor's words and that one waits (the widget showed neither, and
        # offered the form again: a re-walk).
        async with chat_socket(f"?conversation={public_id}&token={token}") as reloaded:
            assert reloaded.hello["left_messages"] == [
                {"email": "ada@example.com", "text": "Call me back", "after_id": asked,
                 "answered": False}
            ]  # fmt: skip
        async with agent_socket(agents["ann"]) as ann:
            await until(client, lambda f: f["type"] == "handoff" and f["agents_online"] == 1)
            assert ann.hello["conversations"][0]["email"] == "ada@example.com"
            await ann.send({"type": "open", "conversation": public_id})
            transcript = await ann.recv_until("transcript")
            assert transcript["left_messages"][0]["text"] == "Call me back"
            await ann.send({"type": "presence", "status": "away"})
            await until(client, lambda f: f["type"] == "handoff" and f["agents_online"] == 0)
            await ann.send({"type": "claim", "conversation": public_id})
            assert (await ann.recv_until("error"))["code"] == "away"
    assert await database_sync_to_async(LeftMessage.objects.count)() == 1


async def test_the_widget_can_ask_again_whether_anyone_is_in(upstream, agents):
    """An open widget said "no one from our team is online" long after an agent signed in."""
    hours.forget()
    async with chat_socket() as client:
        assert client.hello["team"]["agents_online"] == 0
        async with agent_socket(agents["ann"]):
            await client.send({"type": "team"})
            team = await until(client, "team")
        assert team["team"]["agents_online"] == 1
        assert team["team"].keys() == client.hello["team"].keys()
    hours.forget()


# --- who may connect ------------------------------------------------------------------------


async def test_console_socket_refuses_everyone_but_staff_agents(db):
    outsider = await database_sync_to_async(make_agent)("eve", in_group=False)
    not_staff = await database_sync_to_async(make_agent)("mallory", staff=False)
    superuser = await database_sync_to_async(User.objects.create_superuser)("root", "", "pw")
    assert await refused(None)
    assert await refused(outsider)
    assert await refused(not_staff)
    assert await refused(superuser), "staff without the agents group stay out"


async def test_agent_identity_comes_from_the_session(upstream, agents):
    """A frame naming another agent changes nothing: actions are the session user's."""
    async with chat_socket() as client, agent_socket(agents["bob"]) as bob:
        public_id = client.hello["conversation"]
        await queued_by_button(client)
        await bob.send(
            {"type": "claim", "conversation": public_id, "agent": agents["ann"].pk, "user": "ann"}
        )
        await bob.recv_until("claimed")
    assert (await conversation(public_id)).assigned_to.username == "bob"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ('{"type": ["claim"], "conversation": "x"}', "unknown_type"),
        ('{"type": {"a": 1}}', "unknown_type"),
        ('{"type": "note", "conversation": "x", "text": "' + "[" * 1200 + '"}', None),
        ('{"type": "ping", "x": ' + "[" * 1200 + "]" * 1200 + "}", "invalid_json"),
        ('{"type": "search", "query": "\\ud800"}', "invalid_frame"),
    ],
)
async def test_malformed_console_frames_get_an_error_and_the_socket_stays(agents, raw, code):
    async with agent_socket(agents["ann"]) as ann:
        await ann.ws.send_to(text_data=raw)
        frame = await ann.recv_until("error")
        if code is not None:
            assert frame == {"type": "error", "code": code}
        else:  # brackets are text; the note goes to a conversation that does not exist
            assert frame["type"] == "error" and frame["code"] != "internal"
        await ann.send({"type": "search", "query": "nobody"})
        assert (await ann.recv_until("search_results"))["type"] == "search_results"


async def test_a_visitor_cannot_make_the_bot_answer_an_agents_message(upstream, agents):
    async with chat_socket() as client, agent_socket(agents["ann"]) as ann:
        public_id = client.hello["conversation"]
        await queued_by_button(client)
        await claimed(ann, public_id)
        await ann.send(
            {"type": "send", "conversation": public_id, "client_id": "a-1", "text": "Hi, Ann here."}
        )
        agent_message = (await ann.recv_until("ack"))["message_id"]
        await ann.send({"type": "return_to_bot", "conversation": public_id})
        await until(client, lambda f: f["type"] == "conversation" and f["status"] == "bot")

        await client.send({"type": "message", "client_id": "a-1", "text": "answer this"})
        ack = await until(client, "ack")
        assert ack["message_id"] == agent_message
        frames = await client.say("Where is my parcel?", "v-2")
        assert frames[-1]["type"] == "done"
    replies = await database_sync_to_async(
        lambda: list(Message.objects.filter(reply_to_id=agent_message))
    )()
    assert replies == [], "the bot never answered the agent's message"


@pytest.mark.parametrize(
    ("origin", "host", "accepted"),
    [
        (b"http://localhost", b"localhost", True),
        (b"http://localhost:8080", b"localhost", False),  # another port of the same host
        (b"https://localhost", b"localhost", False),  # another scheme
        (b"http://localhost", None, False),  # no Host to compare with
        (b"https://shop.example", b"localhost", False),  # a widget site, not the console's
        (b"http://evil.example", b"evil.example", False),  # a host Django does not serve
    ],
)
async def test_the_console_socket_takes_only_the_sites_own_origin(
    agents, settings, origin, host, accepted
):
    from channels.testing import WebsocketCommunicator

    from chatbot.asgi import application
    from tests.handoff.conftest import session_cookie

    settings.CHAT_ALLOWED_ORIGINS = ["https://shop.example"]
    cookie = await database_sync_to_async(session_cookie)(agents["ann"])
    headers = [(b"origin", origin), (b"cookie", f"sessionid={cookie}".encode())]
    if host is not None:
        headers.append((b"host", host))
    communicator = WebsocketCommunicator(application, "/ws/console/", headers=headers)
    connected, _ = await communicator.connect()
    await communicator.disconnect()
    assert connected is accepted


async def test_left_messages_are_capped_per_conversation_and_rate_limited(upstream, settings):
    settings.HANDOFF_LEFT_MESSAGES_MAX = 3
    settings.CHAT_VISITOR_MESSAGE_BURST = 100
    frame = {"type": "leave_message", "email": "ada@example.com", "text": "x" * 4000}
    async with chat_socket() as client:
        for _ in range(3):
            await client.send(frame)
            assert (await until(client, lambda f: f["type"] in ("left_message", "error")))[
                "type"
            ] == "left_message"
        await client.send(frame)
        refused = await until(client, "error")
        assert refused["code"] == "left_message_limit" and refused["text"]
        assert (await client.say("still there?", "after-cap"))[-1]["type"] == "done"
        public_id = client.hello["conversation"]
    stored = await database_sync_to_async(
        lambda: LeftMessage.objects.filter(conversation__public_id=public_id).count()
    )()
    assert stored == 3

    settings.CHAT_VISITOR_MESSAGE_BURST = 1
    async with chat_socket() as client:
        await client.send(frame)
        await until(client, "left_message")
        await client.send(frame)
        limited = await until(client, "error")
    assert limited["code"] == "rate_limited" and limited["retry_after"] > 0


async def test_a_question_asked_in_the_queue_is_answered_when_the_visitor_goes_back_to_the_bot(
    upstream,
):
    """A support-shift walk: "How do I find the right size?", asked while queued, was never
    answered after the visitor pressed "Back to the assistant"."""
    async with chat_socket() as client:
        await queued_by_button(client)
        await client.send({"type": "message", "client_id": "q-1", "text": "Do you ship to Canada?"})
        asked = await until(client, "ack")
        await client.send({"type": "handoff_cancel"})
        back = await until(client, "conversation")
        done = await until(client, "done", timeout=20)
    assert back["status"] == "bot"
    assert done["reply_to"] == asked["message_id"] and done["message"]["text"]


async def test_a_question_the_agent_handed_back_unanswered_is_answered_by_the_bot(upstream, agents):
    async with chat_socket() as client, agent_socket(agents["ann"]) as ann:
        public_id = client.hello["conversation"]
        await queued_by_button(client)
        await claimed(ann, public_id)
        await client.send({"type": "message", "client_id": "q-1", "text": "Do you ship to Canada?"})
        asked = await until(client, "ack")
        await ann.recv_until(lambda f: f["type"] == "message" and f["message"]["role"] == "visitor")
        await ann.send({"type": "return_to_bot", "conversation": public_id})
        back = await until(client, "conversation")
        done = await until(client, "done", timeout=20)
    assert back["status"] == "bot"
    assert done["reply_to"] == asked["message_id"] and done["message"]["text"]
