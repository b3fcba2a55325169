"""Questions whose answer died with its process: claims that lapse with their holder, the
pickup on resume and by the sweep (exactly once), and no dead writer's text replayed
(docs/operations.md, "Crashes and restarts"). The drills with real processes killed mid-answer
are tests/chatbot/test_crash_drills.py."""

import asyncio
import datetime as dt
import uuid

import pytest
import redis
from channels.db import database_sync_to_async
from django.utils import timezone

from chatbot import answering, recovery, services
from chatbot import shared_state as shared_state_module
from chatbot.handoff import background
from chatbot.models import Conversation, Message
from chatbot.shared_state import MemoryState, claim_held, reset_shared_state, shared_state
from tests.conftest import chat_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("settle")]

REDIS_URL = "redis://127.0.0.1:6379/6"
STALE = "Half an answer from a process that died"


@pytest.fixture(params=["memory", "redis"])
def state_backend(request, settings):
    """Claims and partial answers in this process's memory, or in the real Redis (a db and a
    prefix of this test's own); the rules must be the same."""
    if request.param == "memory":
        settings.REDIS_URL = ""
        reset_shared_state()
        yield None
        return
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    client.ping()
    prefix = f"test-recovery-{uuid.uuid4().hex[:8]}"
    settings.REDIS_URL = REDIS_URL
    settings.SHARED_STATE_PREFIX = f"{prefix}:state"
    settings.ROUTER_STATE_PREFIX = prefix
    reset_shared_state()
    yield client
    reset_shared_state()
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


@database_sync_to_async
def orphan(text: str = "Where is my parcel?", *, age_s: float = 0.0, **fields) -> Message:
    """A stored visitor message whose answer never came (its process died first)."""
    conversation = Conversation.objects.create(**fields)
    message = Message.objects.create(
        conversation=conversation, role=Message.Role.VISITOR, text=text, client_id="c1"
    )
    if age_s:
        Message.objects.filter(pk=message.pk).update(
            created_at=timezone.now() - dt.timedelta(seconds=age_s)
        )
    return message


@database_sync_to_async
def replies(message_id: int) -> list[Message]:
    return list(Message.objects.filter(reply_to_id=message_id))


def socket_query(message: Message) -> str:
    conversation = message.conversation
    return f"?conversation={conversation.public_id}&token={conversation.visitor_token}"


# --- claims ---------------------------------------------------------------------------------


async def test_a_claim_is_renewed_and_released_by_its_holder_only(state_backend):
    state = shared_state()
    assert await state.claim("answering:1", 5, holder="a")
    assert not await state.extend("answering:1", "b", 5), "b does not hold it"
    await state.release("answering:1", "b")
    assert not await state.claim("answering:1", 5, holder="b"), "b's release left a's claim"
    assert await state.extend("answering:1", "a", 5)
    await state.release("answering:1", "a")
    assert await state.claim("answering:1", 5, holder="b")


async def test_claim_held_says_no_while_another_holds_it_and_frees_it_after(state_backend):
    async with claim_held("answering:2", 5) as first, claim_held("answering:2", 5) as second:
        assert (first, second) == (True, False)
    async with claim_held("answering:2", 5) as again:
        assert again, "released when the block ended"


class SlowToAnswerClaims(MemoryState):
    """Claims as the process's memory does, then waits, as a claim whose reply is still on its
    way from Redis: a task cancelled meanwhile holds a claim it never saw."""

    async def claim(self, key: str, ttl_s: float, *, fail_open: bool = False, holder: str = "1"):
        taken = self.claim_now(key, ttl_s, holder)
        await asyncio.sleep(5)
        return taken


async def test_a_claim_taken_as_its_task_is_cancelled_is_released_not_left_to_lapse(settings):
    """A shutdown's hand-over cancels the answers being written; one still waiting for its
    claim's reply must not leave the claim behind for the next process to wait out."""
    settings.REDIS_URL = ""
    state = SlowToAnswerClaims()
    shared_state_module._state = state
    try:
        started = asyncio.Event()

        async def answer() -> None:
            started.set()
            async with claim_held("answering:8", 60):
                await asyncio.sleep(60)

        task = asyncio.create_task(answer())
        await started.wait()
        await asyncio.sleep(0.05)
        assert not state.claim_now("answering:8", 60, "other"), "the claim is taken meanwhile"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert state.claim_now("answering:8", 60, "other"), "released at the cancel"
    finally:
        reset_shared_state()


async def test_the_hand_over_also_stops_answers_started_while_it_stops_the_others(monkeypatch):
    monkeypatch.setattr(answering, "_handing_over", False)  # the process goes on after the test
    later: list[asyncio.Task[None]] = []

    def track(task: asyncio.Task[None]) -> asyncio.Task[None]:
        answering._running.add(task)
        task.add_done_callback(answering._running.discard)
        return task

    async def writing() -> None:
        try:
            await asyncio.sleep(60)
        finally:  # a socket starts another answer while this one is being stopped
            later.append(track(asyncio.create_task(asyncio.sleep(60))))

    track(asyncio.create_task(writing()))
    await asyncio.sleep(0)

    assert await answering.hand_over_running_answers() == 2
    assert not answering._running and later[0].cancelled()


async def test_a_process_handing_over_starts_no_answer_and_takes_no_claim(monkeypatch):
    """A message stored while the process stops is left, unclaimed, to the process the
    visitor resumes on, which answers it at once instead of after a lapsed claim."""
    monkeypatch.setattr(answering, "_handing_over", False)
    message = await orphan()
    await answering.hand_over_running_answers()

    task = answering.start_answer(message.id, message.conversation.public_id, "en")
    with pytest.raises(asyncio.CancelledError):
        await task

    assert not answering._running
    assert await shared_state().claim(answering.answering_key(message.id), 5), "never claimed"
    assert await replies(message.id) == []


async def test_the_keys_dropped_with_a_claim_go_when_it_is_released_not_before(state_backend):
    """An answer's partial text is deleted in the round trip that releases its claim; a block
    that did not get the claim drops nothing (the text is the holder's)."""
    state = shared_state()
    async with claim_held("answering:3", 5, drop=("partial:3",)) as held:
        assert held
        await state.append("partial:3", "Half", 5)
        async with claim_held("answering:3", 5, drop=("partial:3",)) as other:
            assert not other
        assert await state.read("partial:3") == "Half", "the loser dropped nothing"
    assert await state.read("partial:3") is None
    assert await state.claim("answering:3", 5), "the claim went with it"


async def test_an_answer_claim_lives_about_as_long_as_the_setting_not_300_s(
    state_backend, settings, upstream
):
    """A process killed mid-answer stops renewing: its claim must not outlive it by minutes
    (a resend was ignored for up to 300 s)."""
    if state_backend is None:
        pytest.skip("the expiry is read from Redis")
    settings.ANSWER_CLAIM_TTL_S = 4.0
    upstream.faults.token_delay_s = 0.05
    message = await orphan()
    task = answering.start_answer(message.id, message.conversation.public_id, "en")
    key = f"{settings.SHARED_STATE_PREFIX}:{answering.answering_key(message.id)}"
    async with asyncio.timeout(5):
        while (ttl := state_backend.pttl(key)) < 0:
            await asyncio.sleep(0.01)
    await task
    assert 0 < ttl <= 4000
    assert not state_backend.exists(key), "released once answered"


# --- resume ---------------------------------------------------------------------------------


async def test_resume_answers_again_a_question_whose_answer_died(state_backend, upstream):
    """Its writer's claim is gone and its partial text is stale: the visitor is told the answer
    starts over, never sees the dead text, and gets one answer."""
    message = await orphan()
    await shared_state().append(answering.partial_key(message.id), STALE, 300)
    async with chat_socket(socket_query(message)) as client:
        await client.send({"type": "resume", "after": 0})
        frames = await client.recv_until("done")
    types = [f["type"] for f in frames]
    assert "restarted" in types
    restarted = frames[types.index("restarted")]
    assert restarted["reply_to"] == message.id and restarted["text"]
    assert all(STALE not in f.get("text", "") for f in frames), "no dead writer's text"
    tokens = "".join(f["text"] for f in frames if f["type"] == "token")
    assert tokens == frames[-1]["message"]["text"]
    assert [m.text for m in await replies(message.id)] == [frames[-1]["message"]["text"]]


async def test_resume_replays_the_text_of_an_answer_whose_writer_lives(state_backend, upstream):
    """Another process holds the claim and is writing: its text so far is replayed, and this
    process does not answer the question a second time."""
    message = await orphan()
    state = shared_state()
    assert await state.claim(answering.answering_key(message.id), 30, holder="other")
    await state.append(answering.partial_key(message.id), "Thanks for", 300)
    async with chat_socket(socket_query(message)) as client:
        await client.send({"type": "resume", "after": 0})
        frames = await client.recv_until("resumed")
        frames.append(await client.recv())
        await answering.wait_for_running_answers()
    assert frames[-1] == {
        "type": "token",
        "reply_to": message.id,
        "offset": 0,
        "text": "Thanks for",
    }
    assert upstream.stats.requests == 0 and await replies(message.id) == []


async def test_a_claim_seen_alive_on_resume_is_looked_at_again_once_it_lapsed(
    state_backend, upstream, settings
):
    """The visitor came back moments after the writer died: its claim still looked alive, so
    its text was replayed; once the claim lapses the question is answered again."""
    settings.ANSWER_CLAIM_TTL_S = 0.5
    message = await orphan()
    state = shared_state()
    assert await state.claim(answering.answering_key(message.id), 0.5, holder="dead")
    await state.append(answering.partial_key(message.id), STALE, 300)
    async with chat_socket(socket_query(message)) as client:
        await client.send({"type": "resume", "after": 0})
        frames = await client.recv_until("done")
    types = [f["type"] for f in frames]
    assert frames[types.index("resumed") + 1]["text"] == STALE, "replayed while alive"
    assert types.index("restarted") > types.index("resumed") + 1
    after = frames[types.index("restarted") :]
    tokens = "".join(f["text"] for f in after if f["type"] == "token")
    assert tokens == frames[-1]["message"]["text"]
    assert len(await replies(message.id)) == 1


async def test_a_resend_of_a_question_whose_answer_died_starts_over(state_backend, upstream):
    message = await orphan()
    await shared_state().append(answering.partial_key(message.id), STALE, 300)
    async with chat_socket(socket_query(message)) as client:
        await client.send({"type": "message", "client_id": "c1", "text": message.text})
        frames = await client.recv_until("done")
    assert frames[0]["type"] == "ack" and frames[0]["duplicate"]
    assert "restarted" in [f["type"] for f in frames]
    assert all(STALE not in f.get("text", "") for f in frames)
    assert len(await replies(message.id)) == 1


async def test_a_resent_request_for_a_person_is_not_answered_by_the_bot(state_backend, upstream):
    """The widget offers Retry on any question left without an answer; a request for a person
    left so (the visitor left the queue) is still not the bot's to answer."""
    message = await orphan("talk to a human please")
    async with chat_socket(socket_query(message)) as client:
        await client.send({"type": "message", "client_id": "c1", "text": message.text})
        ack = await client.recv()
        await answering.wait_for_running_answers()
    assert ack["type"] == "ack" and ack["duplicate"]
    assert upstream.stats.requests == 0 and await replies(message.id) == []


async def test_an_answer_finished_second_is_dropped_without_an_error(state_backend, upstream):
    """Two writers on one question (a claim lapsed under a writer stalled past it, or claims
    of each process's own while Redis was down): the database keeps the first answer, and the
    second is dropped quietly instead of telling the visitor something failed."""
    message = await orphan()
    conversation = message.conversation
    turn = await database_sync_to_async(services.answer_turn)(message_id=message.id)
    await database_sync_to_async(services.bot_message_store)(
        conversation_id=conversation.pk,
        reply_to_id=message.id,
        text="The first writer's answer.",
        source="llm",
        trace={},
    )
    async with chat_socket(socket_query(message)) as client:
        await answering.answer_message(message.id, conversation.public_id, turn=turn)
        frames = []
        while not await client.ws.receive_nothing(timeout=0.5):
            frames.append(await client.recv())
    assert upstream.stats.requests == 1, "the second writer ran"
    assert [f["type"] for f in frames if f["type"] in ("error", "done", "cancelled")] == []
    assert [m.text for m in await replies(message.id)] == ["The first writer's answer."]


# --- the sweep ------------------------------------------------------------------------------


async def test_concurrent_sweeps_answer_each_orphan_once(state_backend, upstream, settings):
    """Several processes sweeping at once (here: three sweeps on one loop, the claim being the
    only thing between them) call the model once per question."""
    settings.ANSWER_CLAIM_TTL_S = 5.0
    first = await orphan("Where is my parcel?", age_s=30)
    second = await orphan("Can I change my delivery address?", age_s=30)
    found = await asyncio.gather(*(recovery.sweep_once() for _ in range(3)))
    await answering.wait_for_running_answers()
    assert found == [2, 2, 2]
    assert upstream.stats.requests == 2, "one model call per question"
    assert [len(await replies(m.id)) for m in (first, second)] == [1, 1]
    assert await recovery.sweep_once() == 0, "nothing left to answer"


async def test_the_sweep_leaves_questions_young_enough_to_be_starting(upstream, settings):
    settings.ANSWER_CLAIM_TTL_S = 60.0
    await orphan(age_s=1)
    assert await recovery.sweep_once() == 0


@pytest.mark.parametrize(
    ("text", "fields", "after", "age_s"),
    [
        ("talk to a human please", {}, None, 30),
        ("Where is my parcel?", {"status": Conversation.Status.QUEUED}, None, 30),
        ("Where is my parcel?", {}, Message.Role.AGENT, 30),
        ("Where is my parcel?", {}, Message.Role.SYSTEM, 30),
        ("Where is my parcel?", {}, None, 7200),
    ],
    ids=["asks-for-a-person", "queued", "an-agent-wrote-after", "reopened-after", "too-old"],
)
async def test_orphans_are_only_questions_the_bot_still_owes(text, fields, after, age_s):
    message = await orphan(text, age_s=age_s, **fields)
    if after is not None:
        await database_sync_to_async(Message.objects.create)(
            conversation=message.conversation, role=after, text="Hello, Ann here."
        )
    found = await database_sync_to_async(recovery.orphaned_messages)(max_age_s=3600)
    assert found == []


async def test_an_orphan_is_found_with_its_conversation_and_locale():
    message = await orphan(age_s=30, locale="zh-hans")
    found = await database_sync_to_async(recovery.orphaned_messages)(max_age_s=3600)
    assert found == [(message.id, message.conversation.public_id, "zh-hans")]


@database_sync_to_async
def written_while_a_person_had_it(back_to_bot: str) -> tuple[Message, Message]:
    """A visitor writes while queued or to the agent who claimed the conversation; the
    conversation then comes back to the bot (the visitor cancels, or the agent returns it) and
    the visitor asks the bot something."""
    from django.contrib.auth.models import User

    from chatbot.handoff import services as handoff

    conversation = Conversation.objects.create()
    handoff.conversation_handoff(conversation_id=conversation.pk, reason="visitor_words")
    if back_to_bot == "agent-returns-it":
        agent = User.objects.create_user("ann", is_staff=True)
        handoff.conversation_claim(public_id=conversation.public_id, agent=agent)
    to_person = Message.objects.create(
        conversation=conversation, role=Message.Role.VISITOR, text="My order has not arrived"
    )
    if back_to_bot == "agent-returns-it":
        handoff.conversation_return_to_bot(public_id=conversation.public_id, agent=agent)
    else:
        assert handoff.conversation_handoff_cancel(conversation_id=conversation.pk)
    to_bot = Message.objects.create(
        conversation=conversation, role=Message.Role.VISITOR, text="Can I pay with PayPal?"
    )
    return to_person, to_bot


@pytest.mark.parametrize("back_to_bot", ["agent-returns-it", "visitor-cancels-the-queue"])
async def test_a_question_nobody_answered_is_the_bots_when_it_gets_the_chat_back(back_to_bot):
    """A support-shift walk: "My order has not arrived", asked while queued or of the agent who
    then handed back without a reply, was never answered. It is the bot's from the hand-back
    (its socket has it answered then, while it is the newest: tests/handoff)."""
    to_person, to_bot = await written_while_a_person_had_it(back_to_bot)
    found = await database_sync_to_async(recovery.orphaned_messages)(max_age_s=3600)
    assert [message_id for message_id, _, _ in found] == [to_person.id, to_bot.id]


async def test_a_question_a_person_answered_is_not_the_bots_once_it_has_the_chat_back():
    """Seen in a `make run` walk: the bot answered on its own, later, what the visitor had
    asked the agent."""
    from django.contrib.auth.models import User

    from chatbot.handoff import services as handoff

    conversation = await database_sync_to_async(Conversation.objects.create)()
    agent = await database_sync_to_async(User.objects.create_user)("ann", is_staff=True)

    def with_the_agent() -> Message:
        handoff.conversation_handoff(conversation_id=conversation.pk, reason="visitor_words")
        handoff.conversation_claim(public_id=conversation.public_id, agent=agent)
        asked = Message.objects.create(
            conversation=conversation, role=Message.Role.VISITOR, text="My order has not arrived"
        )
        Message.objects.create(
            conversation=conversation, role=Message.Role.AGENT, text="Let me look at it."
        )
        handoff.conversation_return_to_bot(public_id=conversation.public_id, agent=agent)
        return asked

    asked = await database_sync_to_async(with_the_agent)()
    found = await database_sync_to_async(recovery.orphaned_messages)(max_age_s=3600)
    assert asked.id not in [message_id for message_id, _, _ in found]
    assert found == []


async def test_a_cancel_arriving_as_a_claim_is_released_is_not_lost(state_backend):
    """The hand-over cancels answers wherever they are; one that lands while the claim's block
    is ending must still stop the answer (it was taken for the renewal's own and swallowed)."""

    async def holder() -> str:
        async with claim_held("answering:9", 5):
            asyncio.current_task().cancel()  # delivered at the block's exit
        return "went on"

    task = asyncio.create_task(holder())
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await shared_state().claim("answering:9", 5), "released all the same"


async def test_the_hand_over_gives_up_on_an_answer_that_does_not_stop(monkeypatch, caplog):
    """A shutdown waits for the answers only so long: one that ignores its cancel is logged
    with where it waits, and the process goes on exiting."""
    monkeypatch.setattr(answering, "_handing_over", False)
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(stubborn())
    answering._running.add(task)
    task.add_done_callback(answering._running.discard)
    await asyncio.sleep(0)
    try:
        async with asyncio.timeout(5):
            assert await answering.hand_over_running_answers(timeout_s=0.2) == 0
        stuck = [r for r in caplog.records if getattr(r, "event", "") == "hand_over_stuck"]
        assert len(stuck) == 1 and "stubborn" in stuck[0].stack
    finally:
        release.set()
        await task


@pytest.mark.parametrize("module", [recovery, background], ids=["orphan sweep", "handoff sweep"])
async def test_a_consumer_cancelled_as_its_socket_closes_stops_all_the_same(module):
    """Daphne's shutdown cancels every consumer; one cancelled while it stops the sweep on its
    socket's close must stop, not take the cancel for the sweep's own and run on (a consumer
    that never ends keeps daphne from exiting)."""
    module.sweeper_acquire()
    await asyncio.sleep(0)

    async def closing() -> str:
        asyncio.current_task().cancel()  # delivered inside the release
        await module.sweeper_release()
        return "went on"

    task = asyncio.create_task(closing())
    with pytest.raises(asyncio.CancelledError):
        await task
    assert module._sweeper is None
