"""Small talk: a message that asks nothing gets a set reply in the visitor's language at once,
without the FAQ store, the cache or a model, and never counts as the bot falling back; anything
with a question in it goes down the pipeline whole."""

import pytest
from channels.db import database_sync_to_async

from chatbot import answering
from chatbot.models import Conversation, Message
from knowledge.greetings import SmallTalk, is_affirmative, small_talk
from tests.conftest import chat_socket


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("hi", SmallTalk.GREETING),
        ("Hi there!", SmallTalk.GREETING),
        ("hiya", SmallTalk.GREETING),
        ("Good morning team", SmallTalk.GREETING),
        ("Is anyone there?", SmallTalk.GREETING),
        ("hello?", SmallTalk.GREETING),
        ("Thank you so much 😊", SmallTalk.THANKS),
        ("ok thanks", SmallTalk.THANKS),
        ("Thanks!! Bye 👋", SmallTalk.GOODBYE),  # a goodbye closes: no "anything else?"
        ("That’s all, thanks!", SmallTalk.GOODBYE),
        ("thanks, that's all", SmallTalk.GOODBYE),
        ("谢谢，没有了", SmallTalk.GOODBYE),
        ("👋", SmallTalk.GREETING),
        ("👍👍", SmallTalk.ACKNOWLEDGEMENT),
        ("🙏", SmallTalk.THANKS),
        ("bye", SmallTalk.GOODBYE),
        ("have a nice day", SmallTalk.GOODBYE),
        ("no thanks", SmallTalk.ACKNOWLEDGEMENT),
        ("OK!", SmallTalk.ACKNOWLEDGEMENT),
        ("great", SmallTalk.ACKNOWLEDGEMENT),
        ("你好", SmallTalk.GREETING),
        ("您好，在吗？", SmallTalk.GREETING),
        ("客服你好", SmallTalk.GREETING),
        ("谢谢", SmallTalk.THANKS),
        ("好的谢谢", SmallTalk.THANKS),  # longer Chinese forms first: 好的, not 好 then 的谢谢
        ("谢谢你的帮助", SmallTalk.THANKS),
        ("再见", SmallTalk.GOODBYE),
        ("嗯嗯好的", SmallTalk.ACKNOWLEDGEMENT),
        ("Are you a real person?", SmallTalk.IDENTITY),
        ("hi, are you a bot?", SmallTalk.IDENTITY),  # a question outranks the greeting
        ("am I talking to a human or a machine?", SmallTalk.IDENTITY),
        ("I'd like to know if you are a real person or an AI", SmallTalk.IDENTITY),
        ("is this automated?", SmallTalk.IDENTITY),
        ("你是机器人吗？", SmallTalk.IDENTITY),
        ("您好，请问你是真人还是机器人", SmallTalk.IDENTITY),
    ],
)
def test_small_talk_is_recognised(text, kind):
    assert small_talk(text) == kind


@pytest.mark.parametrize(
    "text",
    [
        "hi, where is my order?",
        "high heels in size 38?",  # "hi" must end a word
        "Hello Kitty backpack",
        "thanks but my parcel is late",
        "yesterday",
        "no refund yet",
        "cool beans",
        "亲子装有吗",  # 亲 greets, but 亲子装 is a product
        "你好，怎么退货",
        "谢谢，那运费多少？",
        "",
        "hi " * 30,  # longer than small talk ever is
        "are you open on Sunday?",
        "is this jacket waterproof?",
        "are you a bot? I want a real person",
        "你是真人吗？我要转人工",
        "人工智能是什么",
        "???",
        "🤔",
    ],
)
def test_anything_with_more_in_it_is_not_small_talk(text):
    assert small_talk(text) is None


@pytest.mark.parametrize(
    ("text", "yes"),
    [
        ("yes", True),
        ("Yes please!", True),
        ("ok", True),
        ("sure", True),
        ("yes, I would", True),
        ("好的", True),
        ("可以", True),
        ("嗯嗯好的", True),
        ("no", False),
        ("yes but where is my order", False),
        ("yesterday", False),
        ("不用了", False),
    ],
)
def test_a_plain_yes(text, yes):
    assert is_affirmative(text) is yes


@database_sync_to_async
def stored_answers() -> list[tuple[str, dict]]:
    return list(Message.objects.filter(role="bot").order_by("id").values_list("source", "trace"))


@database_sync_to_async
def conversation_status(public_id: str) -> str:
    return Conversation.objects.get(public_id=public_id).status


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settle")
async def test_greetings_get_a_reply_and_do_not_hand_the_conversation_over(upstream, settings):
    settings.HANDOFF_FALLBACK_STREAK = 2
    async with chat_socket() as client:
        first = (await client.say("hi", "s1"))[-1]
        second = (await client.say("Hello?", "s2"))[-1]
        thanks = (await client.say("thanks!", "s3"))[-1]
    await answering.wait_for_running_answers()
    assert first["source"] == second["source"] == thanks["source"] == "small_talk"
    assert first["message"]["text"] == "Hello! What can I help you with today?"
    assert thanks["message"]["text"].startswith("You're welcome!")
    assert upstream.stats.requests == 0
    assert await conversation_status(client.hello["conversation"]) == "bot"
    stored = await stored_answers()
    assert [source for source, _ in stored] == ["small_talk"] * 3
    (step,) = stored[0][1]["steps"]  # nothing else was asked
    assert (step["stage"], step["decision"], step["detail"]) == (
        "small_talk",
        "small_talk",
        {"kind": "greeting"},
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settle")
async def test_small_talk_is_answered_in_chinese(upstream):
    async with chat_socket("?locale=zh-hans") as client:
        done = (await client.say("好的谢谢", "z1"))[-1]
    assert done["source"] == "small_talk"
    assert done["message"]["text"] == "不客气！还有什么可以帮您的吗？"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settle")
async def test_a_greeting_in_front_of_a_question_goes_down_the_pipeline(upstream):
    async with chat_socket() as client:
        done = (await client.say("hi, where is my order?", "q1"))[-1]
    assert done["source"] == "llm"
    ((_, trace),) = await stored_answers()
    assert [step["stage"] for step in trace["steps"]][:2] == ["faq", "cache"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settle")
@pytest.mark.parametrize(
    ("locale", "question", "yes", "reply"),
    [
        ("en", "Are you a real person?", "yes please", "I'm the virtual assistant, not a person."),
        ("zh-hans", "你是真人吗？", "好的", "我是智能助手，不是真人。"),
    ],
)
async def test_asking_whether_the_bot_is_a_person_is_answered_and_a_yes_hands_over(
    upstream, locale, question, yes, reply
):
    """Such a question used to queue the conversation for a person at once (the words "real
    person" / "真人"), with no answer: the visitor asked who answers, not for someone else."""
    async with chat_socket(f"?locale={locale}") as client:
        done = (await client.say(question, "i1"))[-1]
        assert done["source"] == "small_talk"
        assert done["message"]["text"].startswith(reply)
        assert await conversation_status(client.hello["conversation"]) == "bot"
        await client.send({"type": "message", "client_id": "i2", "text": yes})
        while (await client.recv())["type"] != "handoff":
            pass
    assert await conversation_status(client.hello["conversation"]) == "queued"
    assert upstream.stats.requests == 0
