"""Left messages by email, against a real SMTP server the test starts (aiosmtpd): the visitor's
acknowledgement in their language, the team's notification, retries on temporary refusals and
none on permanent ones, the socket never waiting for the mail server, and an agent's reply from
the console's inbox, emailed and added to the conversation."""

import asyncio
import datetime as dt
import re
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from chatbot import services
from chatbot.handoff import mail, tasks
from chatbot.handoff.models import LeftMessage, TranscriptEmail
from chatbot.models import Conversation, Message
from chatbot.security.identity import identity_signature
from tests.conftest import chat_socket
from tests.handoff.conftest import agent_socket, make_agent
from tests.servers import MailServer, smtp_server

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("settle", "settle_handoffs"),
]

TEAM = "team@example.com"


@pytest.fixture
def smtp(settings) -> Iterator[MailServer]:
    """A real SMTP server on a free port, and the app sending through it."""
    with smtp_server() as (server, port):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.DEFAULT_FROM_EMAIL = "support@shop.example"
        settings.EMAIL_TEAM_ADDRESS = TEAM
        settings.EMAIL_RETRY_BACKOFF_S = 0.01
        settings.SITE_URL = "https://chat.shop.example"
        yield server


async def leave(client, text: str = "Where is order 1042?", address: str = "ada@example.com"):
    await client.send({"type": "leave_message", "email": address, "text": text})
    frame = await client.recv_until("left_message")
    return frame[-1]


@database_sync_to_async
def left_message(public_id: str) -> LeftMessage:
    return LeftMessage.objects.select_related("answered_by", "reply__conversation").get(
        conversation__public_id=public_id
    )


# --- leaving a message ----------------------------------------------------------------------


async def test_leaving_a_message_emails_the_visitor_and_the_team(smtp):
    async with chat_socket() as client:
        public_id = client.hello["conversation"]
        assert (await leave(client))["email"] == "ada@example.com"
    await tasks.wait_for_pending()

    [ack] = smtp.to("ada@example.com")
    assert ack.rcpt_tos == ["ada@example.com"]
    assert ack.message["Subject"] == "We received your message"
    assert ack.message["From"] == "support@shop.example"
    assert ack.message["Reply-To"] == TEAM
    assert "will reply to this address" in ack.body
    assert "order 1042" not in ack.body  # nothing typed by anyone goes to an unconfirmed address

    [team] = smtp.to(TEAM)
    assert team.message["Subject"] == "New message left by ada@example.com"
    assert "> Where is order 1042?" in team.body
    assert f"https://chat.shop.example/console/#{public_id}" in team.body
    assert len(smtp.received) == 2
    assert (await left_message(public_id)).acknowledged_at is not None


async def test_the_acknowledgement_speaks_the_conversations_language(smtp):
    async with chat_socket("?locale=zh-hans") as client:
        await leave(client, text="我的订单在哪里？")
    await tasks.wait_for_pending()

    [ack] = smtp.to("ada@example.com")
    assert ack.message["Subject"] == "我们已收到您的留言"
    assert "我们会尽快回复到这个邮箱" in ack.body
    [team] = smtp.to(TEAM)  # the team's email is in the site's language
    assert team.message["Subject"] == "New message left by ada@example.com"
    assert "Conversation language: zh-hans" in team.body


async def test_no_team_address_no_team_email(smtp, settings):
    settings.EMAIL_TEAM_ADDRESS = ""
    async with chat_socket() as client:
        await leave(client)
    await tasks.wait_for_pending()
    assert [r.rcpt_tos for r in smtp.received] == [["ada@example.com"]]
    assert "Reply-To" not in smtp.received[0].message


async def test_a_temporary_refusal_is_retried_until_the_mail_goes_through(smtp, settings):
    settings.EMAIL_TEAM_ADDRESS = ""
    smtp.refuse = ["451 4.3.0 Try again later", "421 4.7.0 Too busy"]
    async with chat_socket() as client:
        public_id = client.hello["conversation"]
        await leave(client)
    await tasks.wait_for_pending()
    assert smtp.attempts == 3
    assert len(smtp.to("ada@example.com")) == 1
    assert (await left_message(public_id)).acknowledged_at is not None


async def test_an_address_refused_for_now_holds_up_no_other_email(smtp, settings):
    settings.EMAIL_TEAM_ADDRESS = ""
    settings.EMAIL_RETRY_BACKOFF_S = 3.0
    settings.EMAIL_RETRY_MAX = 1
    smtp.greylisted = {"slow@example.com"}
    async with chat_socket() as first, chat_socket() as second:
        await leave(first, address="slow@example.com")
        started = time.monotonic()
        await leave(second, address="fast@example.com")
        [fast] = await asyncio.to_thread(smtp.wait_for, 1, 2.5)
        waited_s = time.monotonic() - started
    assert fast.rcpt_tos == ["fast@example.com"]
    assert waited_s < 2.5, waited_s  # not behind the greylisted address's 3 s backoff
    smtp.greylisted.clear()
    await tasks.wait_for_pending()
    assert sorted(r.rcpt_tos[0] for r in smtp.received) == ["fast@example.com", "slow@example.com"]


async def test_a_permanent_refusal_is_not_retried_and_agents_are_told(
    smtp, settings, caplog, agents
):
    settings.EMAIL_TEAM_ADDRESS = ""
    smtp.refuse = ["550 5.1.1 <ada@example.com>: No such mailbox", "250 would have gone through"]
    async with chat_socket() as client:
        public_id = client.hello["conversation"]
        await leave(client)
    await tasks.wait_for_pending()
    assert smtp.attempts == 1 and smtp.received == []
    stored = await left_message(public_id)
    assert stored.acknowledged_at is None
    # Agents are told it will not arrive (it read "not emailed yet" for good: a mail walk),
    # by the reply codes only, and the daily resend leaves it alone.
    assert stored.undeliverable_at is not None
    assert stored.undeliverable_error == "SMTPDataError 550"
    since = stored.created_at - dt.timedelta(minutes=1)
    unsent = await database_sync_to_async(mail.unsent)(since=since, until=timezone.now())
    assert unsent["acknowledgements"] == []
    async with agent_socket(agents["ann"]) as ann:
        [item] = ann.hello["left_messages"]
        assert item["undeliverable_error"] == "SMTPDataError 550" and item["undeliverable_at"]
    # The server's reply quotes the address; our log lines keep only its code.
    ours = [r for r in caplog.records if r.name.startswith(("chatbot", "celery"))]
    assert any("giving up: SMTPDataError 550" in r.getMessage() for r in ours)
    assert not [r.getMessage() for r in ours if "ada@example.com" in r.getMessage()]


async def test_retries_stop_after_the_limit(smtp, settings):
    settings.EMAIL_TEAM_ADDRESS = ""
    settings.EMAIL_RETRY_MAX = 2
    smtp.refuse = ["451 4.3.0 Try again later"] * 5
    async with chat_socket() as client:
        await leave(client)
    await tasks.wait_for_pending()
    assert smtp.attempts == 3 and smtp.received == []


async def test_a_slow_mail_server_never_holds_the_socket(smtp, upstream):
    smtp.delay_s = 3.0  # per message: a socket waiting for the two sends would wait 6 s
    async with chat_socket() as client:
        started = time.monotonic()
        await leave(client)
        confirmed_s = time.monotonic() - started
        frames = await client.say("hello", "after-leaving")
        answered_s = time.monotonic() - started
        assert frames[-1]["type"] == "done"
    # Both sends (visitor, team) are still in the SMTP server's DATA by then.
    assert confirmed_s < 2.0 and answered_s < 2.9, (confirmed_s, answered_s)
    assert smtp.received == []
    await tasks.wait_for_pending()
    assert len(smtp.received) == 2


async def test_acknowledgements_per_address_are_capped(smtp, settings):
    settings.EMAIL_TEAM_ADDRESS = ""
    settings.EMAIL_ACKS_PER_ADDRESS_PER_DAY = 1
    async with chat_socket() as first:
        await leave(first)
    await tasks.wait_for_pending()
    async with chat_socket() as second:
        await leave(second, address="ADA@example.com")
    await tasks.wait_for_pending()
    assert len(smtp.received) == 1


# --- the console's inbox and replies --------------------------------------------------------


@database_sync_to_async
def earlier_messages(hello: dict) -> None:
    """Two messages before the left one; the conversation is stored as the socket's first
    real frame would store it (a socket that has sent nothing has no row yet)."""
    conversation = services.conversation_store_pending(
        public_id=hello["conversation"], token=hello["token"], locale=hello["locale"]
    )
    Message.objects.create(conversation=conversation, role="visitor", text="Is 1042 shipped?")
    Message.objects.create(conversation=conversation, role="bot", text="Let me check that.")


REPLY = "It **shipped** today; [tracking](https://shop.example/t/1042) follows."


async def test_an_agent_answers_a_left_message_by_email_and_in_the_conversation(smtp, agents):
    async with chat_socket() as client:
        public_id = client.hello["conversation"]
        await earlier_messages(client.hello)
        await leave(client)
        await tasks.wait_for_pending()
        async with agent_socket(agents["ann"]) as ann:
            [item] = ann.hello["left_messages"]
            assert item["email"] == "ada@example.com"
            assert item["text"] == "Where is order 1042?"
            assert item["conversation"] == public_id and item["created"]
            assert item["acknowledged_at"] and item["answered_at"] is None
            await ann.send(
                {
                    "type": "left_reply",
                    "left_message": item["id"],
                    "client_id": "reply-1",
                    "text": REPLY,
                }
            )
            replied = await ann.recv_until("left_replied")
            assert replied["duplicate"] is False
            inbox = await ann.recv_until(
                lambda f: f["type"] == "left_messages" and f["items"][0]["answered_at"]
            )
            assert inbox["items"][0]["answered_by"] == "ann"
            assert inbox["items"][0]["reply"] == REPLY
            # The visitor, still on the page, gets the reply in the conversation too.
            shown = await client.recv_until("message")
            assert shown[-1]["message"]["role"] == "agent"
            assert shown[-1]["message"]["text"] == REPLY
            await tasks.wait_for_pending()
            emailed = await ann.recv_until(
                lambda f: f["type"] == "left_messages" and f["items"][0]["reply_emailed_at"]
            )
            assert emailed["items"][0]["id"] == item["id"]

    [reply] = [r for r in smtp.to("ada@example.com") if "reply" in r.message["Subject"]]
    assert reply.message["Subject"] == "Our reply to your message"
    body = reply.body
    assert body.startswith("ann from our team replied to the message you left in our chat:")
    # Written out as plain text: the email has no Markdown.
    assert "It shipped today; tracking (https://shop.example/t/1042) follows." in body
    assert "> Where is order 1042?" in body
    assert "> You: Is 1042 shipped?" in body and "> Assistant: Let me check that." in body
    stored = await left_message(public_id)
    assert stored.answered_by.username == "ann" and stored.answered_at is not None
    assert stored.reply.role == "agent" and stored.reply.conversation.public_id == public_id
    assert stored.reply_emailed_at is not None


@database_sync_to_async
def set_status(public_id: str, status: str) -> None:
    Conversation.objects.filter(public_id=public_id).update(status=status)


@database_sync_to_async
def status_of(public_id: str) -> str:
    return Conversation.objects.get(public_id=public_id).status


async def test_a_queued_conversation_answered_by_email_goes_back_to_the_bot(smtp, agents):
    """It waited for this answer: it stayed queued for good, its wait timer red, and the
    returning visitor was told "you're in the queue" again (a mail walk)."""
    async with chat_socket() as client:
        public_id = client.hello["conversation"]
        await earlier_messages(client.hello)
        await leave(client)
        await set_status(public_id, "queued")
        async with agent_socket(agents["ann"]) as ann:
            # The queue shows what they left, newer than their chat question (it said "(no
            # message yet)" with no chat message, the answered question with one: mail walks).
            [queued] = [c for c in ann.hello["conversations"] if c["conversation"] == public_id]
            assert queued["preview"] == "Where is order 1042?"
            left_id = (await left_message(public_id)).pk
            frame = {"type": "left_reply", "left_message": left_id, "client_id": "r", "text": "Ok."}
            await ann.send(frame)
            await ann.recv_until("left_replied")
        assert await status_of(public_id) == "bot"
        told = await client.recv_until("conversation")
        assert told[-1]["status"] == "bot"


async def test_a_conversation_an_agent_owns_stays_theirs_when_a_left_message_is_answered(
    smtp, agents
):
    async with chat_socket() as client:
        public_id = client.hello["conversation"]
        await leave(client)
    await set_status(public_id, "agent")
    async with agent_socket(agents["ann"]) as ann:
        left_id = (await left_message(public_id)).pk
        frame = {"type": "left_reply", "left_message": left_id, "client_id": "r", "text": "Ok."}
        await ann.send(frame)
        await ann.recv_until("left_replied")
    assert await status_of(public_id) == "agent"


async def test_a_reply_to_a_chinese_conversation_is_emailed_in_chinese(smtp, agents):
    async with chat_socket("?locale=zh-hans") as client:
        public_id = client.hello["conversation"]
        await leave(client, text="我的订单在哪里？")
    async with agent_socket(agents["ann"]) as ann:
        left_id = (await left_message(public_id)).pk
        await ann.send(
            {"type": "left_reply", "left_message": left_id, "client_id": "r", "text": "已发货。"}
        )
        await ann.recv_until("left_replied")
    await tasks.wait_for_pending()
    [_, reply] = smtp.to("ada@example.com")
    assert reply.message["Subject"] == "关于您留言的回复"
    assert reply.body.startswith("我们团队的 ann 回复了您在聊天中的留言：")
    assert "您的留言：" in reply.body and "> 我的订单在哪里？" in reply.body


async def test_two_agents_answering_at_once_one_wins_and_one_email_goes(smtp, agents, settings):
    settings.EMAIL_TEAM_ADDRESS = ""
    async with chat_socket() as client:
        public_id = client.hello["conversation"]
        await leave(client)
    left_id = (await left_message(public_id)).pk
    async with agent_socket(agents["ann"]) as ann, agent_socket(agents["bob"]) as bob:
        for sock, name in ((ann, "ann"), (bob, "bob")):
            await sock.send(
                {
                    "type": "left_reply",
                    "left_message": left_id,
                    "client_id": name,
                    "text": f"{name} here",
                }
            )
        results = [
            await sock.recv_until(lambda f: f["type"] in ("left_replied", "error"))
            for sock in (ann, bob)
        ]
    await tasks.wait_for_pending()
    won = [r for r in results if r["type"] == "left_replied"]
    lost = [r for r in results if r["type"] == "error"]
    assert len(won) == 1 and len(lost) == 1
    assert lost[0]["code"] == "already_answered" and lost[0]["by"] in ("ann", "bob")
    agent_texts = await database_sync_to_async(
        lambda: list(
            Message.objects.filter(conversation__public_id=public_id, role="agent").values_list(
                "text", flat=True
            )
        )
    )()
    assert agent_texts == [f"{lost[0]['by']} here"]
    assert len([r for r in smtp.received if "reply" in r.message["Subject"]]) == 1


async def test_a_resent_reply_is_stored_and_emailed_once(smtp, agents, settings):
    settings.EMAIL_TEAM_ADDRESS = ""
    async with chat_socket() as client:
        public_id = client.hello["conversation"]
        await leave(client)
    left_id = (await left_message(public_id)).pk
    frame = {"type": "left_reply", "left_message": left_id, "client_id": "c-1", "text": "Done."}
    async with agent_socket(agents["ann"]) as ann:
        await ann.send(frame)
        first = await ann.recv_until("left_replied")
        await ann.send(frame)
        again = await ann.recv_until("left_replied")
    await tasks.wait_for_pending()
    assert first["duplicate"] is False and again["duplicate"] is True
    assert again["message_id"] == first["message_id"]
    assert len([r for r in smtp.received if "reply" in r.message["Subject"]]) == 1


async def test_replying_to_an_unknown_left_message_is_an_error(agents):
    async with agent_socket(agents["ann"]) as ann:
        await ann.send({"type": "left_reply", "left_message": 999, "client_id": "x", "text": "?"})
        assert (await ann.recv_until("error"))["code"] == "not_found"


# --- with a worker --------------------------------------------------------------------------


@pytest.fixture
def worker(settings) -> Iterator[None]:
    """A real Celery worker (in a thread, on the in-memory broker) instead of eager tasks."""
    from celery.contrib.testing.worker import start_worker

    from chatbot.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=5):
            yield
    finally:
        app.conf.task_always_eager = True


async def test_a_worker_sends_and_retries_after_the_countdown(smtp, settings, worker):
    settings.EMAIL_TEAM_ADDRESS = ""
    settings.EMAIL_RETRY_BACKOFF_S = 0.3
    smtp.refuse = ["451 4.3.0 Try again later"]
    async with chat_socket() as client:
        public_id = client.hello["conversation"]
        started = time.monotonic()
        await leave(client)
    [ack] = await asyncio.to_thread(smtp.wait_for, 1)
    assert time.monotonic() - started >= 0.3  # the retry waited for its countdown
    assert ack.message["Subject"] == "We received your message" and smtp.attempts == 2
    deadline = time.monotonic() + 5  # the worker records it just after the SMTP server said 250
    while (await left_message(public_id)).acknowledged_at is None:
        assert time.monotonic() < deadline, "the acknowledgement was never recorded"
        await asyncio.sleep(0.05)


# --- the transcript on request --------------------------------------------------------------


async def ask_transcript(client, address: str = "ada@example.com") -> dict:
    await client.send({"type": "transcript_email", "email": address})
    while True:
        frame = await client.recv()
        if frame["type"] in ("transcript_email", "error"):
            return frame


def follow(link: str, method: str = "get") -> tuple[int, str]:
    """The emailed link, opened (and its button pressed) in a browser."""
    from django.test import Client as HttpClient

    path = link.split("://", 1)[-1].split("/", 1)[1]
    response = getattr(HttpClient(), method)("/" + path)
    return response.status_code, response.content.decode()


def follow_in_chinese(link: str) -> tuple[int, str]:
    """A link that names no conversation (tampered, expired) speaks the browser's language."""
    from django.test import Client as HttpClient

    path = link.split("://", 1)[-1].split("/", 1)[1]
    response = HttpClient(HTTP_ACCEPT_LANGUAGE="zh-hans").get("/" + path)
    return response.status_code, response.content.decode()


def emailed_link(body: str) -> str:
    (link,) = re.findall(r"https?://\S+/chat/transcript/\S+/", body)
    return link


async def test_the_transcript_goes_out_once_the_address_asks_for_it(smtp):
    """Anyone can type any address: the first email holds only our words and a link, and the
    transcript (the visitor's own words) goes out when the address's owner asks for it (a
    security walk had the mail server send a visitor's phishing text to strangers)."""
    async with chat_socket() as client:
        await earlier_messages(client.hello)
        sent = await ask_transcript(client)
        assert sent == {"type": "transcript_email", "email": "ada@example.com", "confirm": True}
    await tasks.wait_for_pending()
    [ask] = smtp.received
    assert ask.rcpt_tos == ["ada@example.com"]
    assert ask.message["Subject"] == "Do you want your chat transcript?"
    assert "1042" not in ask.body and "Let me check" not in ask.body
    link = emailed_link(ask.body)

    status, page = await database_sync_to_async(follow)(link)
    assert status == 200 and "Send me the transcript" in page and "ada@example.com" in page
    await tasks.wait_for_pending()
    assert len(smtp.received) == 1, "opening the link sends nothing (mail scanners open links)"

    status, page = await database_sync_to_async(follow)(link, "post")
    assert status == 200 and "on its way to ada@example.com" in page
    await tasks.wait_for_pending()
    mail = smtp.received[1]
    assert mail.rcpt_tos == ["ada@example.com"]
    assert mail.message["Subject"] == "Your chat transcript"
    assert mail.body.startswith("Here is your conversation with us")
    assert "You (" in mail.body and "):\nIs 1042 shipped?" in mail.body
    assert mail.body.index("Is 1042 shipped?") < mail.body.index("Assistant (")
    assert "):\nLet me check that." in mail.body

    await database_sync_to_async(follow)(link, "post")
    await tasks.wait_for_pending()
    assert len(smtp.received) == 2, "once"
    tampered = link[:-2] + ("A" if link[-2] != "A" else "B") + "/"
    status, page = await database_sync_to_async(follow)(tampered, "post")
    assert status == 400 and "not valid or has expired" in page
    zh_status, zh_page = await database_sync_to_async(follow_in_chinese)(tampered)
    assert zh_status == 400 and "此链接无效或已过期" in zh_page and 'lang="zh-hans"' in zh_page


async def test_a_verified_visitors_own_address_gets_the_transcript_at_once(smtp, settings):
    settings.CHAT_IDENTITY_SECRET = "site-secret"
    signature = identity_signature(
        secret="site-secret", user_id="u-7", name="Ada", email="ada@example.com"
    )
    query = "?" + urlencode(
        {"user_id": "u-7", "user_name": "Ada", "user_email": "ada@example.com",
         "user_hash": signature}
    )  # fmt: skip
    async with chat_socket(query) as client:
        await earlier_messages(client.hello)
        sent = await ask_transcript(client, "ADA@example.com")
        assert sent["confirm"] is False
        other = await ask_transcript(client, "eve@example.com")
        assert other["confirm"] is True
    await tasks.wait_for_pending()
    subjects = sorted((r.rcpt_tos[0], r.message["Subject"]) for r in smtp.received)
    assert subjects == [
        ("ADA@example.com", "Your chat transcript"),
        ("eve@example.com", "Do you want your chat transcript?"),
    ]


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("", "There is nothing to email yet: ask us something first."),
        ("?locale=zh-hans", "目前还没有可以发送的对话内容，请先向我们提问。"),
    ],
)
async def test_a_transcript_asked_before_writing_says_there_is_nothing_yet(smtp, query, text):
    async with chat_socket(query) as client:
        answer = await ask_transcript(client)
        assert answer == {"type": "error", "code": "transcript_empty", "text": text}
        # The socket stays usable: the first question is stored and answered as usual.
        await client.send({"type": "message", "client_id": "c-1", "text": "Hello"})
        assert (await client.recv_until("ack"))[-1]["message_id"] >= 1
    assert smtp.received == []


async def test_the_transcript_speaks_the_conversations_language(smtp):
    async with chat_socket("?locale=zh-hans") as client:
        await earlier_messages(client.hello)
        await ask_transcript(client)
    await tasks.wait_for_pending()
    [ask] = smtp.received
    assert ask.message["Subject"] == "需要您的聊天记录吗？"
    link = emailed_link(ask.body)
    status, page = await database_sync_to_async(follow)(link)
    assert status == 200 and "发送对话记录给我" in page and 'lang="zh-hans"' in page
    await database_sync_to_async(follow)(link, "post")
    await tasks.wait_for_pending()
    mail = smtp.received[1]
    assert mail.message["Subject"] == "您的聊天记录"
    assert mail.body.startswith("以下是您与我们的对话记录")
    assert "您 (" in mail.body and "智能助手 (" in mail.body, "the name the widget uses"


async def test_transcripts_are_capped_per_conversation_and_per_address(smtp, settings):
    settings.EMAIL_TRANSCRIPTS_PER_CONVERSATION = 2
    settings.EMAIL_TRANSCRIPTS_PER_ADDRESS_PER_DAY = 2
    async with chat_socket() as client:
        assert (await ask_transcript(client))["code"] == "transcript_empty", "nothing written yet"
        await earlier_messages(client.hello)
        assert (await ask_transcript(client, "not-an-email"))["code"] == "invalid_email"
        assert (await ask_transcript(client, "a@example.com"))["type"] == "transcript_email"
        assert (await ask_transcript(client, "b@example.com"))["type"] == "transcript_email"
        refused = await ask_transcript(client, "c@example.com")
        assert refused["code"] == "transcript_limit"
        assert refused["text"] == "This conversation can't be emailed again right now."
    async with chat_socket() as one, chat_socket() as two:
        await earlier_messages(one.hello)
        await earlier_messages(two.hello)
        assert (await ask_transcript(one, "A@example.com"))["type"] == "transcript_email"
        assert (await ask_transcript(two, "a@example.com"))["code"] == "transcript_limit"
    await tasks.wait_for_pending()
    assert sorted(r.rcpt_tos[0] for r in smtp.received) == [
        "A@example.com",
        "a@example.com",
        "b@example.com",
    ]


# --- what a dead process lost ---------------------------------------------------------------


@database_sync_to_async
def lost_sends(hello: dict, agent) -> None:
    """Rows as a process leaves them that died after the commit, before sending anything."""
    from django.utils import timezone

    conversation = services.conversation_store_pending(
        public_id=hello["conversation"], token=hello["token"], locale="en"
    )
    an_hour_ago = timezone.now() - timezone.timedelta(hours=1)
    reply = Message.objects.create(conversation=conversation, role="agent", text="Here you go.")
    LeftMessage.objects.create(conversation=conversation, email="ada@example.com", text="Hi")
    LeftMessage.objects.create(
        conversation=conversation,
        email="bo@example.com",
        text="Hello?",
        acknowledged_at=an_hour_ago,
        answered_at=an_hour_ago,
        answered_by=agent,
        reply=reply,
    )
    LeftMessage.objects.filter(conversation=conversation).update(created_at=an_hour_ago)
    TranscriptEmail.objects.create(
        conversation=conversation, email="cy@example.com", confirmed_at=an_hour_ago
    )
    TranscriptEmail.objects.create(conversation=conversation, email="never-asked@example.com")
    TranscriptEmail.objects.filter(conversation=conversation).update(created_at=an_hour_ago)
    # Just now: its own send (or its retries) may still be running.
    LeftMessage.objects.create(conversation=conversation, email="new@example.com", text="Hey")


async def test_mail_resend_sends_what_a_dead_process_lost_once(smtp, agents):
    from django.core.management import call_command

    async with chat_socket() as client:
        hello = client.hello
    await lost_sends(hello, agents["ann"])
    await database_sync_to_async(call_command)("mail_resend")
    subjects = sorted((r.rcpt_tos[0], r.message["Subject"]) for r in smtp.received)
    assert subjects == [
        ("ada@example.com", "We received your message"),
        ("bo@example.com", "Our reply to your message"),
        ("cy@example.com", "Your chat transcript"),
    ]
    await database_sync_to_async(call_command)("mail_resend")
    assert len(smtp.received) == 3  # recorded as sent: not again


async def test_a_left_message_waiting_for_its_email_says_who_replied_in_the_chat_since(
    smtp, agents
):
    """A support-shift walk: a left message stayed plain "waiting" after agents had helped its
    visitor live, and a second agent emailed another answer. It still waits (the visitor may
    have gone before the live reply came), and says who replied in the chat, and when."""
    from tests.handoff.test_handoff import claimed, queued_by_button

    async with chat_socket() as client:
        public_id = client.hello["conversation"]
        await queued_by_button(client)
        await leave(client)
        async with agent_socket(agents["ann"]) as ann:
            [before] = ann.hello["left_messages"]
            await claimed(ann, public_id)
            await ann.send(
                {"type": "send", "conversation": public_id, "client_id": "a-1", "text": "Shipped!"}
            )
            inbox = await ann.recv_until(
                lambda f: f["type"] == "left_messages" and f["items"][0]["replied_live"]
            )
    assert before["replied_live"] is None
    [item] = inbox["items"]
    assert item["answered_at"] is None and item["replied_live"]["by"] == "ann"
    assert item["replied_live"]["at"]


def test_bot_and_agent_markdown_is_written_out_as_plain_text_for_email():
    """The raw markers reached the visitor ("**refund**", "[our refund policy](https://…)")
    in the reply email (a mail walk)."""
    text = (
        "We can issue a **refund**: see [our refund policy](https://shop.example/refunds).\n\n"
        "1. Pack the item\n2. Print the label\n   - keep the *receipt*\n\n"
        "Questions? <https://shop.example/help> or `support`."
    )
    assert mail.plain_text(text) == (
        "We can issue a refund: see our refund policy (https://shop.example/refunds).\n\n"
        "1. Pack the item\n2. Print the label\n  - keep the receipt\n\n"
        "Questions? https://shop.example/help or support."
    )
    chinese = "退款会在 *3-5 个工作日* 内到账 [1]"
    assert mail.plain_text(chinese) == "退款会在 3-5 个工作日 内到账 [1]"
    assert mail.plain_text("2 * 3 = 6, a_b_c") == "2 * 3 = 6, a_b_c"


async def test_an_international_domain_is_shown_as_written_and_sent_encoded(smtp, settings):
    """Browsers send an <input type=email>'s domain in punycode, which the visitor, the agents
    and the team's email then showed (a mail walk)."""
    settings.EMAIL_TEAM_ADDRESS = ""
    async with chat_socket() as client:
        public_id = client.hello["conversation"]
        confirmed = await leave(client, address="wei@xn--fsqu00a.xn--fiqs8s")
    assert confirmed["email"] == "wei@例子.中国"
    assert (await left_message(public_id)).email == "wei@例子.中国"
    await tasks.wait_for_pending()
    [sent] = smtp.received
    assert sent.rcpt_tos == ["wei@xn--fsqu00a.xn--fiqs8s"]


async def test_a_nameless_agents_reply_never_shows_their_login_name(smtp):
    """An account without a name signed the email with its login ("admin from our team
    replied"): half of what signs in to the console, told to anyone who leaves a message."""
    nameless = await database_sync_to_async(make_agent)("ops-login-7", first_name="")
    async with chat_socket() as client:
        public_id = client.hello["conversation"]
        await leave(client)
    async with agent_socket(nameless) as agent:
        left_id = (await left_message(public_id)).pk
        await agent.send(
            {"type": "left_reply", "left_message": left_id, "client_id": "r", "text": "Shipped."}
        )
        await agent.recv_until("left_replied")
    await tasks.wait_for_pending()
    [_, reply] = smtp.to("ada@example.com")
    assert reply.body.startswith("Our team replied to the message you left in our chat:")
    assert "ops-login-7" not in reply.body
