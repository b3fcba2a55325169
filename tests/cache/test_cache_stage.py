"""The cache stage over the websocket, with the upstream simulator as the model: paraphrases of
an answered question are served from the cache; anything unsafe or out of scope is not."""

import time

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from chatbot import answering
from chatbot.cache.models import CachedAnswer
from chatbot.llm.simulator import Faults
from chatbot.models import Message
from knowledge import services as knowledge_services
from knowledge.operating_points import operating_point
from tests.conftest import chat_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("settle")]

QUESTION = "How long does delivery to Canada take?"
# Each near QUESTION but not near enough to be served on its own (MiniLM cosines 0.88, 0.91),
# and answered by `topic_answer` in agreeing words.
PARAPHRASES = ("how long does shipping to canada take", "how long do deliveries to canada take")
REWORDING = "what is the delivery time to canada"  # near all three, nearest to QUESTION


@database_sync_to_async
def entries() -> list[CachedAnswer]:
    return list(CachedAnswer.objects.order_by("id"))


@database_sync_to_async
def bot_message(message_id: int) -> Message:
    return Message.objects.get(pk=message_id)


async def ask(text: str, query: str = "") -> list[dict]:
    """One question in a fresh conversation, and the answer's bookkeeping after `done` (the
    cache stores a model answer once it went out)."""
    async with chat_socket(query) as client:
        frames = await client.say(text, "c1")
    await answering.wait_for_running_answers()
    return frames


def statuses(frames: list[dict]) -> list[str]:
    return [f["stage"] for f in frames if f["type"] == "status"]


async def test_a_paraphrase_of_answered_questions_is_served_from_the_cache(upstream, settings):
    """One or two earlier answers are not enough for a rewording (it could be a close but
    different question); as many as the operating point's support that agree are."""
    settings.CHAT_STORED_ANSWER_TOKEN_DELAY_S = 0.001
    settings.CHAT_TOKEN_FRAME_INTERVAL_S = 0  # every piece its own frame
    settings.CHAT_STATUS_DELAY_S = 0  # every stage's status as it starts
    first = (await ask(QUESTION))[-1]
    assert first["source"] == "llm"
    [entry] = await entries()
    assert (entry.question, entry.answer, entry.model) == (
        QUESTION,
        first["message"]["text"],
        "sim-model",
    )
    assert entry.expires_at > timezone.now()
    support = operating_point("en").cache_support
    assert len(PARAPHRASES) == support - 1
    for supported_by, paraphrase in enumerate(PARAPHRASES, start=1):
        answered = (await ask(paraphrase))[-1]
        assert answered["source"] == "llm"
        declined = (await bot_message(answered["message"]["id"])).trace["steps"]
        cache_step = next(s for s in declined if s["stage"] == "cache")
        assert (cache_step["decision"], cache_step["detail"]["support"]) == (
            "unsupported",
            supported_by,
        )

    frames = await ask(REWORDING)
    done = frames[-1]
    assert done["source"] == "cache"
    assert statuses(frames) == ["small_talk", "faq", "cache"]
    assert sum(f["type"] == "token" for f in frames) > 3, "streams like a live answer"
    assert done["message"]["text"] == first["message"]["text"]
    assert done["trace"]["score"] >= operating_point("en").cache_threshold
    assert done["trace"]["cost"] == 0.0
    assert upstream.stats.requests == support
    stored = await bot_message(done["message"]["id"])
    cache_step = next(s for s in stored.trace["steps"] if s["stage"] == "cache")
    assert cache_step["detail"]["entry_id"] == entry.pk
    assert cache_step["detail"]["support"] == support
    entry, *_ = await entries()
    assert entry.hit_count == 1 and entry.last_hit_at is not None


async def test_a_different_question_is_not_a_hit(upstream):
    await ask(QUESTION)
    done = (await ask("How long does delivery to Mexico take?"))[-1]
    assert done["source"] == "llm"
    assert upstream.stats.requests == 2
    assert len(await entries()) == 2


@pytest.mark.parametrize(
    "question",
    [
        "My name is Alice, how long does delivery to Canada take?",
        "how long does delivery to canada take for order #558812?",
        "How long does delivery to Canada take? Mail me at alice@example.com",
    ],
)
async def test_personal_questions_bypass_the_cache(upstream, question):
    assert (await ask(question))[-1]["source"] == "llm"
    assert (await ask(question))[-1]["source"] == "llm"
    assert await entries() == []
    assert upstream.stats.requests == 2


async def test_answers_with_personal_details_are_not_stored(upstream):
    upstream.answer = lambda q: "Write to us at help-desk@example.com or call +44 20 7946 0958."
    try:
        await ask(QUESTION)
        assert (await ask(QUESTION))[-1]["source"] == "llm"
    finally:
        upstream.answer = type(upstream)().answer
    assert await entries() == []


async def test_an_interrupted_answer_is_not_stored(upstream):
    upstream.faults = Faults(cut_after_tokens=3)
    first = (await ask(QUESTION))[-1]
    assert first["source"] == "llm"
    assert await entries() == []
    upstream.faults = Faults()  # the answer function of this suite's conftest stays
    assert (await ask(QUESTION))[-1]["source"] == "llm"
    assert len(await entries()) == 1


async def test_a_fallback_answer_is_not_stored(upstream_down):
    assert (await ask(QUESTION))[-1]["source"] == "fallback"
    assert await entries() == []


async def test_a_follow_up_only_hits_after_the_same_question(upstream):
    async def conversation(first: str, follow_up: str) -> list[dict]:
        async with chat_socket() as client:
            await client.say(first, "a")
            return await client.say(follow_up, "b")

    returns = await conversation("How do I return an item?", "and how long does that take?")
    assert returns[-1]["source"] == "llm"
    other = await conversation("How do I change my password?", "and how long does that take?")
    assert other[-1]["source"] == "llm", "another context must not hit"
    again = await conversation("how do I return an item", "And how long does that take?")
    assert again[-1]["source"] == "cache"
    assert again[-1]["message"]["text"] == returns[-1]["message"]["text"]


async def test_a_long_chain_of_follow_ups_bypasses_the_cache_and_is_answered(upstream, settings):
    """Beyond MAX_CHAIN follow-ups in a row the cache has no scope to look in: those questions
    go to the model (they used to end in an `internal` error, retries too)."""
    settings.CHAT_VISITOR_MESSAGE_BURST = 100  # the visitor limit is not under test here
    follow_ups = ["Is it waterproof?", "What about that one?", "And this?", "Is it cheaper?"]
    async with chat_socket() as client:
        await client.say("Tell me about the trail jacket", "q0")
        for index, text in enumerate([*follow_ups, "And that one?"], start=1):
            frames = await client.say(text, f"q{index}")
            assert not [f for f in frames if f["type"] == "error"], frames
            assert frames[-1]["source"] == "llm", (text, frames[-1])
        resent = await client.say("And that one?", "q5-again")
        assert resent[-1]["source"] == "llm"
    stored = await bot_message(frames[-1]["message"]["id"])
    cache_step = next(s for s in stored.trace["steps"] if s["stage"] == "cache")
    assert cache_step["decision"] == "bypass_context"
    assert cache_step["detail"]["context"] == "context_too_deep"


async def test_entries_serve_only_their_language(upstream):
    await ask(QUESTION)
    assert (await ask("你们卖礼品卡吗？"))[-1]["source"] == "llm"  # no Chinese entry yet
    # The language is the message's, not the page's: English on a Chinese page is served.
    assert (await ask(QUESTION, "?locale=zh-hans"))[-1]["source"] == "cache"


async def test_a_knowledge_edit_retires_cached_answers(upstream):
    await ask(QUESTION)
    await database_sync_to_async(knowledge_services.faq_save)(
        question="Do you sell gift cards?", answer="Yes, from 10 to 200 euros."
    )
    assert (await ask(QUESTION))[-1]["source"] == "llm"


async def test_a_new_system_prompt_or_model_retires_cached_answers(upstream, settings):
    await ask(QUESTION)
    settings.LLM_SYSTEM_PROMPT = "You are a terse assistant."
    assert (await ask(QUESTION))[-1]["source"] == "llm"
    settings.LOCAL_LLM_MODEL = "another-model"
    assert (await ask(QUESTION))[-1]["source"] == "llm"
    assert len(await entries()) == 3


async def test_expired_entries_do_not_hit(upstream):
    await ask(QUESTION)
    await database_sync_to_async(lambda: CachedAnswer.objects.update(expires_at=timezone.now()))()
    assert (await ask(QUESTION))[-1]["source"] == "llm"


async def test_thumbs_down_on_a_cached_answer_evicts_its_entry(upstream):
    await ask(QUESTION)
    for paraphrase in PARAPHRASES:  # the agreeing answers the rewording needs
        await ask(paraphrase)
    served, *_ = await entries()
    async with chat_socket() as client:
        done = (await client.say(REWORDING, "p1"))[-1]
        assert done["source"] == "cache"
        await vote_down(client, done["message"]["id"])
        await wait_until_gone(served.pk)
    assert served.pk not in {e.pk for e in await entries()}
    assert (await ask(REWORDING))[-1]["source"] == "llm"


async def test_thumbs_down_on_a_model_answer_evicts_the_entry_made_from_it(upstream):
    async with chat_socket() as client:
        done = (await client.say(QUESTION, "q1"))[-1]
        await answering.wait_for_running_answers()
        assert len(await entries()) == 1
        await client.send(
            {"type": "feedback", "message_id": done["message"]["id"], "value": "down"}
        )
        deadline = time.monotonic() + 5
        while await entries() and time.monotonic() < deadline:
            await database_sync_to_async(time.sleep)(0.05)
    assert await entries() == []


async def vote_down(client, message_id: int) -> None:
    await client.send({"type": "feedback", "message_id": message_id, "value": "down"})


async def wait_until_gone(entry_id: int) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not await database_sync_to_async(CachedAnswer.objects.filter(pk=entry_id).exists)():
            return
        await database_sync_to_async(time.sleep)(0.05)


async def test_one_thumbs_down_takes_an_entry_away_from_every_rewording_it_served(upstream):
    rewordings = [
        REWORDING,
        "How long is delivery to Canada?",
        "how long does delivery to canada take please",
    ]
    first = (await ask(QUESTION))[-1]
    for paraphrase in PARAPHRASES:
        await ask(paraphrase)
    entry, *_ = await entries()
    served = [(await ask(text))[-1] for text in rewordings]
    assert [d["source"] for d in served] == ["cache"] * 3, "one entry serving three rewordings"
    async with chat_socket() as client:  # one visitor, on one of them
        done = (await client.say(rewordings[1], "down"))[-1]
        assert done["source"] == "cache"
        await vote_down(client, done["message"]["id"])
        await wait_until_gone(entry.pk)
    again = [(await ask(text))[-1] for text in [QUESTION, *rewordings]]
    assert all(d["message"]["text"] != first["message"]["text"] for d in again[1:]), [
        (d["source"], d["message"]["text"]) for d in again
    ]
    assert again[0]["source"] == "llm", "the question itself goes to the model again"
    assert entry.pk not in {e.pk for e in await entries()}
    assert first["message"]["text"] not in {e.answer for e in await entries()}, (
        "the model gave the voted-down answer again: it is not stored again"
    )


async def test_an_answer_cut_off_at_its_token_limit_is_not_stored(upstream, settings):
    settings.LLM_MAX_TOKENS = 6  # the simulator's answer is longer: it stops there, "length"
    done = (await ask(QUESTION))[-1]
    assert done["source"] == "llm" and done["trace"]["completion_tokens"] == 6
    assert await entries() == []
    assert (await ask(PARAPHRASES[0]))[-1]["source"] == "llm"
    settings.LLM_MAX_TOKENS = 256
    await ask(QUESTION)
    assert len(await entries()) == 1, "the same answer within its limit is stored"
